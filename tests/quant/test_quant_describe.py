"""Quantized tensors as the app shows them: integer and dequantized histograms
(``layerscope.engine.inspect.tensor_stats``), range use and saturation (``quant.health``), the per-channel
table (``quant.channel_table``), and the error figures of an approximation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from layerscope.engine.inspect import tensor_stats, tensor_values
from layerscope.engine.loaders import load_model
from layerscope.engine.quant import ShapeMismatchError, channel_table, error_figures, health


def test_per_channel_int8_weight(models) -> None:
    ref = load_model(models.qdq_channel).tensor("conv2.weight_quantized")
    int_stats, float_stats = tensor_stats(ref, 256, "int"), tensor_stats(ref, 50, "float")
    ints = ref.load().numpy().reshape(-1).astype(np.int64)
    # One bin per representable integer, covering -128..127, counting every value.
    assert len(int_stats.counts) == 256
    assert int_stats.edges[0] == -128.5 and int_stats.edges[-1] == 127.5
    assert sum(int_stats.counts) == ints.size
    np.testing.assert_array_equal(int_stats.counts, np.bincount(ints + 128, minlength=256))
    real = tensor_values(ref).numpy()
    assert float_stats.min == pytest.approx(float(real.min()))
    assert float_stats.max == pytest.approx(float(real.max()))
    h = health(ref.load(), ref.quant)
    assert h.range_used == (ints.max() - ints.min() + 1) / 256
    assert h.saturated_low == float((ints == -128).mean())
    assert h.saturated_high == float((ints == 127).mean())
    channels = channel_table(ref.load(), ref.quant)
    assert len(channels) == ref.shape[0] == 16
    per_channel = ref.load().numpy().reshape(16, -1).astype(np.int64)
    for row, scale, ch in zip(channels, ref.quant.scale, per_channel, strict=True):
        assert row["scale"] == float(scale)
        assert row["min"] == pytest.approx(float(real[row["channel"]].min()))
        assert row["range_used"] == (ch.max() - ch.min() + 1) / 256
        assert row["saturated"] == float(((ch == -128) | (ch == 127)).mean())
    assert ref.quant.to_dict()["axis"] == 0


def test_per_tensor_uint8_weight_has_one_channel_row(models) -> None:
    ref = load_model(models.qop_uint8).tensor("fc.weight_quantized")
    int_stats = tensor_stats(ref, 256, "int")
    assert int_stats.edges[0] == -0.5 and int_stats.edges[-1] == 255.5
    channels = channel_table(ref.load(), ref.quant)
    assert len(channels) == 1
    assert channels[0]["zero_point"] == int(ref.quant.zero_point[0])


def test_torch_quantized_weight(models) -> None:
    ref = load_model(models.fx_ts).tensor("conv1", "weight")
    assert ref.quant.scheme == "torch"
    assert sum(tensor_stats(ref, 256, "int").counts) == ref.numel
    assert len(channel_table(ref.load(), ref.quant)) == 8


def test_float_tensor_has_only_the_float_view(models) -> None:
    ref = load_model(models.float_onnx).tensor("conv1.weight")
    assert ref.quant is None
    assert tensor_stats(ref, 50, "int") is tensor_stats(ref, 50, "float")  # one cached view


def test_error_figures_of_identical_tensors_are_exact() -> None:
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    fig = error_figures(x, x.clone())
    assert fig.exact and math.isinf(fig.sqnr_db) and fig.sqnr_db > 0
    assert fig.max_abs_error == 0.0
    assert fig.cosine == pytest.approx(1.0)
    assert fig.to_dict()["sqnr_db"] == "inf"  # JSON has no infinity


@pytest.mark.parametrize("target_db", [10.0, 20.0, 42.5])
def test_error_figures_of_a_known_perturbation(target_db: float) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4096, generator=g, dtype=torch.float64)
    noise = torch.randn(4096, generator=g, dtype=torch.float64)
    noise *= x.norm() / noise.norm() * 10 ** (-target_db / 20)  # ‖x‖/‖n‖ = 10^(dB/20)
    fig = error_figures(x, x + noise)
    assert fig.sqnr_db == pytest.approx(target_db, abs=1e-9)
    assert fig.max_abs_error == pytest.approx(float(noise.abs().max()))
    assert not fig.exact


def test_error_figures_edge_cases() -> None:
    zeros = np.zeros(5, np.float32)
    assert error_figures(zeros, zeros).exact
    fig = error_figures(zeros, np.ones(5, np.float32))
    assert fig.sqnr_db == -math.inf and fig.cosine is None
    with pytest.raises(ShapeMismatchError, match="5 and 6"):
        error_figures(zeros, np.zeros(6))


def test_error_figures_count_nonfinite_values_apart() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    y = np.array([1.0, np.nan, 3.0, np.inf], np.float32)
    fig = error_figures(x, y)
    assert fig.nonfinite == 2 and not fig.exact
    assert math.isinf(fig.sqnr_db)  # the finite positions agree exactly
