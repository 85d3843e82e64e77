"""The compiled statistics kernels (layerscope.engine.kernels) give the capture fast path's exact results."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerscope.engine import kernels, stats
from layerscope.engine.capture import fast_stats

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba not installed")


def _tensors() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    base = torch.randn(3, 1031, generator=g)
    return [
        base,
        base.relu(),
        base * 1e-3,  # spans zero with a tiny range: edges near 0 need the long search
        base * 0.01 + 5.0,  # the mean dominates the spread: the centred pass
        base[:, :5].reshape(-1),  # shorter than the unrolled loops
        base.to(torch.bfloat16),
        base.to(torch.float16),
        (base * 1e30).float(),
        base.t(),  # not contiguous
    ]


@pytest.mark.parametrize("bins", [1, 7, 50, 200])
@pytest.mark.parametrize("i", range(9))
def test_kernels_match_the_torch_path(i: int, bins: int, monkeypatch) -> None:
    x = _tensors()[i]
    got = fast_stats.stats(x, bins)
    monkeypatch.setattr(kernels, "available", lambda: False)
    ref = fast_stats.stats(x, bins)
    assert (got.min, got.max, got.zeros, got.numel) == (ref.min, ref.max, ref.zeros, ref.numel)
    assert got.counts == ref.counts and got.edges == ref.edges
    exact = stats.compute(x, bins)
    assert got.mean == pytest.approx(exact.mean, rel=1e-6, abs=1e-9 * exact.std)
    assert got.std == pytest.approx(exact.std, rel=1e-6)


def test_counts_are_those_of_the_reported_edges() -> None:
    x = _tensors()[2].reshape(-1)
    s = fast_stats.stats(x, 50)
    v = x.numpy().astype(np.float64)
    e = np.array(s.edges)
    want = [int(((v >= e[k]) & (v < e[k + 1])).sum()) for k in range(49)]
    want.append(int(((v >= e[49]) & (v <= e[50])).sum()))
    assert s.counts == want


def test_compiled_thresholds_equal_the_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    ranges = [(-1e-3, 1e-3), (-3e-7, 1e-2), (0.0, 1.0), (-1.0, 0.0), (-1e30, 1e30)]
    ranges += [(-(10 ** rng.uniform(-8, 8)), 10 ** rng.uniform(-8, 8)) for _ in range(60)]
    for lo, hi in ranges:
        lo, hi = float(np.float32(lo)), float(np.float32(hi))
        for bins in (1, 2, 50, 256):
            norm = fast_stats._fast_norm(lo, hi, bins)
            got = fast_stats.thresholds(lo, hi, norm, bins)
            ref = fast_stats.thresholds_reference(lo, hi, norm, bins)
            assert [repr(v) for v in got] == [repr(v) for v in ref], (lo, hi, bins)


def test_moments_kernel_flags_nan_and_inf_and_keeps_zero_signs_apart() -> None:
    a = np.array([1.0, -0.0, 0.0, 2.0, 3.0], np.float32)
    lo, hi, total, sq, zeros, bad = kernels.moments_f32(a)
    assert (lo, hi, total, sq, zeros, bad) == (-0.0, 3.0, 6.0, 14.0, 2, 0)
    for special in (np.nan, np.inf, -np.inf):
        b = a.copy()
        b[3] = special
        assert kernels.moments_f32(b)[-1] == 1


def test_nan_and_inf_tensors_still_get_the_reference_statistics() -> None:
    x = torch.tensor([1.0, float("nan"), float("inf"), -2.0, 0.0])
    got, ref = fast_stats.stats(x, 4), stats.compute(x, 4)
    assert got.to_dict() == ref.to_dict()


def test_histogram_kernel_clamps_values_outside_the_range() -> None:
    # pass 2 of a non-deterministic model can see values outside pass 1's range: no stray write
    a = np.array([-5.0, 0.0, 0.5, 1.0, 9.0, np.nan], np.float32)
    counts = kernels.hist_f32(a, np.float32(0.0), np.float32(1.99), 2)
    assert counts.sum() == a.size and counts.tolist()[1] >= 2


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "int16", "uint16"])
def test_sixteen_bit_tables_counted_by_the_kernel_equal_bincount(dtype: str, monkeypatch) -> None:
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(70_001, generator=g) * 300).to(getattr(torch, dtype))
    x[::997] = 0
    if dtype in ("bfloat16", "float16"):
        x[5], x[6], x[7] = float("nan"), float("inf"), -float("inf")
    got = stats.compute(x, 50).to_dict()
    monkeypatch.setattr(kernels, "available", lambda: False)
    assert got == stats.compute(x, 50).to_dict()
