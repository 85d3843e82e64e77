"""ONNX capture: float values match torch's; quantized models show integers and real values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from capture_models import ConvNet

from layerscope.engine.capture import capture
from layerscope.engine.capture import onnx_capture as oc


def test_float_onnx_matches_torch_capture(convnet: ConvNet, convnet_onnx: Path) -> None:
    x = torch.randn(3, 3, 8, 8)
    t = capture(convnet, x).activations
    o = capture(convnet_onnx, x).activations
    by_op = {a.kind: a for a in o.values()}
    pairs = {"conv": "Conv", "relu": "Relu", "pool": "GlobalAveragePool", "fc": "Gemm"}
    for torch_name, op in pairs.items():
        a, b = t[torch_name].stats, by_op[op].stats
        assert a.shape == b.shape
        assert b.mean == pytest.approx(a.mean, rel=1e-4, abs=1e-6)
        assert b.std == pytest.approx(a.std, rel=1e-4, abs=1e-6)
        assert b.min == pytest.approx(a.min, abs=1e-5) and b.max == pytest.approx(a.max, abs=1e-5)
        assert b.zeros == a.zeros
    assert o["y"].stats.shape == (3, 5)  # the graph output keeps its name


def test_session_is_built_once_per_model(
    convnet_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = []
    real = oc._build
    monkeypatch.setattr(oc, "_build", lambda *a: builds.append(a) or real(*a))
    for _ in range(2):
        capture(convnet_onnx, torch.randn(1, 3, 8, 8))
    assert len(builds) == 1


def test_fixed_batch_models_are_fed_in_slices(convnet: ConvNet, tmp_path: Path) -> None:
    path = tmp_path / "fixed.onnx"
    torch.onnx.export(convnet, torch.randn(1, 3, 8, 8), str(path), dynamo=False, input_names=["x"])
    x = torch.randn(4, 3, 8, 8)
    r = capture(path, x)
    assert r.batches == 4
    assert next(a for a in r.activations.values() if a.kind == "Conv").shape == (4, 4, 8, 8)
    ref = capture(convnet, x).activations["conv"].stats
    got = next(a for a in r.activations.values() if a.kind == "Conv").stats
    assert got.mean == pytest.approx(ref.mean, rel=1e-4, abs=1e-6)


@pytest.fixture
def quantized_onnx(convnet_onnx: Path, tmp_path: Path) -> Path:
    from tests.onnx_quantize_for_tests import quantize_static_onnx

    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(1, 3, 8, 8, generator=gen).numpy() for _ in range(4)]
    out = quantize_static_onnx(
        convnet_onnx, tmp_path / "convnet.int8.onnx", input_name="x", batches=batches
    )  # int8 weights, uint8 activations
    return out


def test_quantized_onnx_gives_integer_and_dequantized_views(
    convnet: ConvNet, quantized_onnx: Path
) -> None:
    x = torch.randn(2, 3, 8, 8)
    r = capture(quantized_onnx, x, mode="tensors")
    quantized = [a for a in r.activations.values() if a.kind == "QuantizeLinear"]
    assert quantized, "the QDQ model has QuantizeLinear activations"
    for a in quantized:
        assert a.quant is not None and a.quant.qdtype == "uint8"
        assert a.int_stats is not None and a.int_stats.dtype == "uint8"
        assert len(a.int_stats.counts) == 256  # one bin per integer
        ints = a.values.numpy().astype(np.int64)
        assert a.int_stats.min == ints.min() and a.int_stats.max == ints.max()
        real = (ints - int(a.quant.zero_point[0])) * float(a.quant.scale[0])
        assert a.stats.dtype == "uint8→float32"
        assert a.stats.mean == pytest.approx(real.mean(), rel=1e-5, abs=1e-7)
    # The quantizer fuses Conv+Relu; the dequantized relu output tracks the float model's.
    float_relu = capture(convnet, x).activations["relu"].stats
    relu_q = next(a for a in quantized if a.name.startswith("/relu/"))
    step = float(relu_q.quant.scale[0])
    assert relu_q.stats.mean == pytest.approx(float_relu.mean, abs=step)
    assert relu_q.stats.max <= float_relu.max + step  # values beyond the calibrated range clip
    assert relu_q.stats.zeros >= float_relu.zeros


def test_weights_are_not_reported_as_activations(quantized_onnx: Path) -> None:
    r = capture(quantized_onnx, torch.randn(1, 3, 8, 8))
    weights = {i.name for i in onnx.load(str(quantized_onnx)).graph.initializer}
    dq_of_weights = [
        a
        for a in r.activations.values()
        if a.kind == "DequantizeLinear" and a.shape == (4, 3, 3, 3)
    ]
    assert not dq_of_weights and not (set(r.activations) & weights)
