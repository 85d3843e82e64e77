"""Tiny float models and their quantized variants, made with the real quantizers.

One module-scoped fixture (``conftest.models``) calls :func:`build_all` once per test session,
so every test sees the same files and the suite stays fast.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

INPUT = "input"
SHAPE = (1, 3, 12, 12)


class Tiny(nn.Module):
    """Conv+BN+ReLU, Conv+ReLU, pool, Linear: the patterns quantizers fuse and fold."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.conv2(x))
        return self.fc(self.flatten(self.pool(x)))


def tiny(seed: int = 0) -> Tiny:
    torch.manual_seed(seed)
    model = Tiny()
    with torch.no_grad():  # non-trivial BN statistics, so folding visibly changes the weights
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 2.0)
        model.bn1.weight.uniform_(0.5, 1.5)
        model.bn1.bias.uniform_(-0.2, 0.2)
    return model.eval()


def calibration(n: int = 4, shape: tuple[int, ...] = SHAPE, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]


def export_onnx(model: nn.Module, path: Path, shape: tuple[int, ...] = SHAPE) -> Path:
    torch.onnx.export(
        model, (torch.zeros(shape),), str(path), dynamo=False, do_constant_folding=False,
        opset_version=17, input_names=[INPUT], output_names=["logits"],
    )  # fmt: skip
    return path


def preprocess(src: Path, dst: Path) -> Path:
    from onnxruntime.quantization import quant_pre_process

    quant_pre_process(str(src), str(dst))
    return dst


def quantize_onnx(
    src: Path, dst: Path, fmt: str, per_channel: bool, unsigned: bool = False,
    exclude: list[str] | None = None, shape: tuple[int, ...] = SHAPE,
) -> Path:  # fmt: skip
    from tests.onnx_quantize_for_tests import quantize_static_onnx

    qtype = "uint8" if unsigned else "int8"
    quantize_static_onnx(
        src, dst, input_name=INPUT, batches=calibration(shape=shape), fmt=fmt,
        weight_type=qtype, activation_type=qtype, per_channel=per_channel, exclude=exclude,
    )  # fmt: skip
    return dst


def quantize_dynamic_onnx(src: Path, dst: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QUInt8,
                     op_types_to_quantize=["Conv", "MatMul", "Gemm"])  # fmt: skip
    return dst


class _Eager(nn.Module):
    """Tiny wrapped with quant/dequant stubs for torch.ao eager-mode quantization."""

    def __init__(self, inner: Tiny) -> None:
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.inner = inner
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.inner(self.quant(x)))


def torch_eager_int8(model: Tiny) -> nn.Module:
    from torch.ao import quantization as tq

    torch.backends.quantized.engine = "x86"
    m = _Eager(copy.deepcopy(model)).eval()
    m.qconfig = tq.get_default_qconfig("x86")
    tq.fuse_modules(m.inner, [["conv1", "bn1", "relu1"], ["conv2", "relu2"]], inplace=True)
    tq.prepare(m, inplace=True)
    with torch.no_grad():
        for b in calibration():
            m(torch.from_numpy(b))
    return tq.convert(m)


def torch_fx_int8(model: nn.Module, shape: tuple[int, ...] = SHAPE) -> nn.Module:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    example = torch.zeros(shape)
    prepared = prepare_fx(copy.deepcopy(model).eval(), get_default_qconfig_mapping("x86"),
                          example_inputs=(example,))  # fmt: skip
    with torch.no_grad():
        for b in calibration(shape=shape):
            prepared(torch.from_numpy(b))
    return convert_fx(prepared)


@dataclass
class Models:
    """Paths of every model variant the tests use."""

    dir: Path
    float_pt: Path
    float_onnx: Path
    pre_onnx: Path
    qdq_tensor: Path
    qdq_channel: Path
    qop_uint8: Path
    qop_unfolded: Path  # QOperator from the raw export: BN stays a float node after DQ
    dynamic: Path
    eager_pt: Path
    eager_state: Path
    fx_ts: Path
    eager: nn.Module  # the converted models themselves (hookable, unlike their TorchScript)
    fx: nn.Module


def build_all(d: Path) -> Models:
    model = tiny()
    torch.save(model, d / "tiny.pt")
    f = export_onnx(model, d / "tiny.onnx")
    pre = preprocess(f, d / "tiny_pre.onnx")
    eager = torch_eager_int8(model)
    # A whole pickled eager-quantized module does not survive torch.load (its fused modules lose
    # their _modules), so eager models travel as TorchScript or as state dicts.
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(eager, torch.zeros(SHAPE)), str(d / "tiny_eager_int8.pt"))
    torch.save(eager.state_dict(), d / "tiny_eager_int8_state.pt")
    fx = torch_fx_int8(model)
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(fx, torch.zeros(SHAPE)), str(d / "tiny_fx_int8.pt"))
    return Models(
        dir=d, float_pt=d / "tiny.pt", float_onnx=f, pre_onnx=pre,
        qdq_tensor=quantize_onnx(pre, d / "tiny_qdq.onnx", "qdq", per_channel=False),
        qdq_channel=quantize_onnx(pre, d / "tiny_qdq_pc.onnx", "qdq", per_channel=True),
        qop_uint8=quantize_onnx(pre, d / "tiny_qop_u8.onnx", "qop", per_channel=False, unsigned=True),
        qop_unfolded=quantize_onnx(f, d / "tiny_qop_raw.onnx", "qop", per_channel=True),
        dynamic=quantize_dynamic_onnx(f, d / "tiny_dyn.onnx"),
        eager_pt=d / "tiny_eager_int8.pt", eager_state=d / "tiny_eager_int8_state.pt",
        fx_ts=d / "tiny_fx_int8.pt", eager=eager, fx=fx,
    )  # fmt: skip


def resnet8(seed: int = 0) -> nn.Module:
    """The zoo's ResNet-8 with non-trivial BatchNorm statistics (untrained: only shapes matter)."""
    from layerscope.engine.zoo import ResNet8

    torch.manual_seed(seed)
    model = ResNet8(num_classes=10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    return model.eval()


RESNET_SHAPE = (1, 3, 32, 32)


@dataclass
class ResNet8Files:
    """ResNet-8 as a state dict, its float ONNX export, ORT-preprocessed, and two quantizations."""

    state: Path
    float_onnx: Path
    pre_onnx: Path
    int8: Path  # QDQ int8, per-channel weights
    uint8: Path  # QOperator uint8, per-tensor weights


def build_resnet8(d: Path) -> ResNet8Files:
    model = resnet8()
    torch.save(model.state_dict(), d / "resnet8_state.pt")
    f = export_onnx(model, d / "resnet8.onnx", RESNET_SHAPE)
    pre = preprocess(f, d / "resnet8_pre.onnx")
    return ResNet8Files(
        state=d / "resnet8_state.pt", float_onnx=f, pre_onnx=pre,
        int8=quantize_onnx(pre, d / "resnet8_int8.onnx", "qdq", per_channel=True,
                           shape=RESNET_SHAPE),
        uint8=quantize_onnx(pre, d / "resnet8_uint8.onnx", "qop", per_channel=False,
                            unsigned=True, shape=RESNET_SHAPE),
    )  # fmt: skip
