"""Writers: one function per demo file (or pair), each writing atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerscope.engine.demo.common import (
    INPUT_NAME,
    ONNX_OPSET,
    OUTPUT_NAME,
    DemoData,
    atomic,
    calibration_batches,
    quantized_engine,
)

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

# ---------------------------------------------------------------------------------------------
# Writers (each writes one file atomically)


def save_torch(model: nn.Module, trainer: Any, out: Path) -> None:
    import torch
    from safetensors.torch import save

    with atomic(out / "resnet8.pt") as tmp:
        torch.save(model, tmp)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with atomic(out / "resnet8_state.pt") as tmp:
        torch.save(state, tmp)
    with atomic(out / "resnet8.ckpt") as tmp:
        # A full checkpoint, optimizer state included, as Lightning writes by default: that is
        # what users have on disk, and it still loads with torch.load(weights_only=True).
        trainer.save_checkpoint(str(tmp), weights_only=False)
    with atomic(out / "resnet8.safetensors") as tmp:
        # save() + write_bytes rather than save_file(), which creates the file with mode 0600.
        # "order": the module order (safetensors stores names sorted; layerscope reads this).
        meta = {"arch": "resnet8", "source": "layerscope demo", "order": json.dumps(list(state))}
        tmp.write_bytes(save(state, metadata=meta))


def save_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Float ONNX via the TorchScript exporter with constant folding off.

    In torch 2.13 this exporter gives hierarchical node names (``/layer1/conv1/Conv``) and
    initializer names equal to the state-dict keys (``layer1.conv1.weight``), and keeps
    BatchNormalization as its own node. The dynamo exporter keeps the initializer names but
    calls nodes ``node_Conv_110`` and, when optimising, folds BN into the conv weights while
    keeping the conv's name — those weights would then differ from the state dict's.
    """
    import onnx
    import torch

    from layerscope.engine.datasets import DIGITS_MEAN, DIGITS_STD

    with atomic(path) as tmp:
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            dynamo=False,
            do_constant_folding=False,
            opset_version=ONNX_OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
        proto = onnx.load(str(tmp))
        # Tell readers what the input must look like; the app uses this to feed digits samples.
        meta = {
            "layerscope.arch": "resnet8",
            "layerscope.dataset": "digits",
            "layerscope.input_layout": "NCHW",
            "layerscope.input_mean": json.dumps(list(DIGITS_MEAN)),
            "layerscope.input_std": json.dumps(list(DIGITS_STD)),
        }
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "layerscope demo"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))


class _Reader:
    """ONNX Runtime calibration reader over real digits training images."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self._it = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._it, None)
        return None if batch is None else {INPUT_NAME: batch}


def save_onnx_quantized(float_path: Path, data: DemoData, out: Path, workdir: Path) -> None:
    """QDQ int8 (per-channel weights) and QOperator uint8 (per-tensor weights) via ORT static."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    # ORT's recommended pre-pass: shape inference plus graph optimisation (folds BN into Conv).
    pre = workdir / "resnet8_pre.onnx"
    quant_pre_process(str(float_path), str(pre))
    batches = calibration_batches(data)
    variants = [
        ("resnet8_int8.onnx", QuantFormat.QDQ, QuantType.QInt8, QuantType.QInt8, True),
        # uint8 weights per tensor: QLinearConv's uint8 path, and a contrast to the int8 file.
        ("resnet8_uint8.onnx", QuantFormat.QOperator, QuantType.QUInt8, QuantType.QUInt8, False),
    ]
    for name, fmt, act, weight, per_channel in variants:
        with atomic(out / name) as tmp:
            quantize_static(
                str(pre),
                str(tmp),
                _Reader(batches),
                quant_format=fmt,
                activation_type=act,
                weight_type=weight,
                per_channel=per_channel,
                calibrate_method=CalibrationMethod.MinMax,
            )
            _drop_unused_opsets(tmp)


def _drop_unused_opsets(path: Path) -> None:
    """Keep only the opset imports the graph uses.

    ORT's pre-pass declares every domain it knows (training, aten, nchwc, ...); readers that
    list a model's opsets would show that noise.
    """
    import onnx

    proto = onnx.load(str(path))
    used = {n.domain or "" for n in proto.graph.node}
    keep = [
        o for o in proto.opset_import if (o.domain or "") in used or o.domain in ("", "ai.onnx")
    ]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def save_torch_int8(model: nn.Module, data: DemoData, path: Path) -> None:
    """torch.ao FX graph-mode int8, calibrated on digits, saved as TorchScript.

    Uses the x86 qconfig (qnnpack on ARM): per-channel int8 weights, uint8 activations.
    """
    import copy

    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    with quantized_engine() as engine:
        float_model = copy.deepcopy(model).eval()
        example = torch.from_numpy(data.x_train[:1])
        qconfig = get_default_qconfig_mapping(engine)
        prepared = prepare_fx(float_model, qconfig, example_inputs=(example,))
        with torch.no_grad():
            for batch in calibration_batches(data):
                prepared(torch.from_numpy(batch))
            quantized = convert_fx(prepared)
            scripted = torch.jit.trace(quantized, example)
    with atomic(path) as tmp:
        torch.jit.save(scripted, str(tmp))
