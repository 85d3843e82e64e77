"""The compiled histogram (counted in pairs above a few thousand values) against NumPy.

The kernel's bin map is ``trunc(fl32(fl32(x - lo) * norm))`` clamped into range; NumPy computes
the same map in float32 and ``bincount`` counts it. Through ``fast_stats.stats`` the counts must
also be those of the reported edges (float64, NumPy's half-open bins), and inputs the kernels do
not take (NaN/Inf, constants, subnormal or huge magnitudes, float64, integers) must give exactly
the reference's ``numpy.histogram``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerscope.engine import kernels, stats
from layerscope.engine.capture import fast_stats

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba not installed")


def _numpy_counts(a: np.ndarray, lo: np.float32, norm: np.float32, bins: int) -> list[int]:
    idx = np.trunc((a - lo) * norm)  # float32 throughout, as the kernel
    idx = np.clip(np.nan_to_num(idx, nan=0.0), 0, bins - 1).astype(np.int64)
    return np.bincount(idx, minlength=bins).tolist()


def _map(a: np.ndarray, bins: int) -> tuple[np.float32, np.float32]:
    lo, hi = float(a.min()), float(a.max())
    return np.float32(lo), np.float32(fast_stats._fast_norm(lo, hi, bins))


def _arrays() -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    n = (1 << 16) + 333  # not a whole number of blocks: the tail is counted one by one
    base = rng.standard_normal(n).astype(np.float32)
    steps = np.repeat(np.arange(7, dtype=np.float32), n // 7 + 1)[:n]
    return [
        base,
        np.maximum(base, 0),  # half zeros: long runs in one bin
        np.zeros(n, np.float32) + np.float32(3.0) * (np.arange(n) % 1031 == 0),  # nearly constant
        steps,  # few distinct values, many exactly on bin edges
        (base * 1e-30).astype(np.float32),  # tiny range
        (base * 1e30).astype(np.float32),  # huge range
        base[:8191],  # just under the size where pairs take over
        base[:8192],
        base[:10_000] + np.float32(1e4),  # values far from zero, narrow range
    ]


@pytest.mark.parametrize("bins", [1, 2, 7, 50, 64, 256, 257])
@pytest.mark.parametrize("i", range(9))
def test_kernel_counts_equal_numpy(i: int, bins: int) -> None:
    a = _arrays()[i]
    lo, norm = _map(a, bins)
    got = kernels.hist_f32(a, lo, norm, bins).tolist()
    assert got == _numpy_counts(a, lo, norm, bins)
    assert sum(got) == a.size


def test_pairs_and_single_counting_agree_on_every_bin_count() -> None:
    from layerscope.engine import _jit_kernels as jk

    a = _arrays()[1]
    for bins in (1, 3, 50, 100, 255, 256):
        lo, norm = _map(a, bins)
        pairs = jk._hist_pairs(a, lo, norm, bins).tolist()
        assert (
            pairs == jk._hist_single(a, lo, norm, bins).tolist() == _numpy_counts(a, lo, norm, bins)
        )


def test_kernel_clamps_values_outside_the_range_in_pairs() -> None:
    # pass 2 of a non-deterministic model can see values beyond pass 1's range
    a = np.random.default_rng(3).uniform(-2, 3, 50_001).astype(np.float32)
    lo, norm = np.float32(0.0), np.float32(fast_stats._fast_norm(0.0, 1.0, 50))
    got = kernels.hist_f32(a, lo, norm, 50).tolist()
    assert got == _numpy_counts(a, lo, norm, 50) and sum(got) == a.size


def test_chunks_of_the_int32_tables_add_up(monkeypatch) -> None:
    # the compiled chunk is 2**32 values; the driver's loop is checked with a small one
    from layerscope.engine import _jit_kernels as jk

    monkeypatch.setattr(jk, "_PAIR_CHUNK", 10_007)
    a = _arrays()[0]
    lo, norm = _map(a, 50)
    assert jk.hist_f32.py_func(a, lo, norm, 50).tolist() == _numpy_counts(a, lo, norm, 50)


def _edge_counts(x: torch.Tensor, edges: list[float]) -> list[int]:
    v = x.detach().double().numpy().ravel()
    return np.histogram(v[np.isfinite(v)], bins=np.array(edges))[0].tolist()


def _awkward() -> list[tuple[torch.Tensor, bool]]:
    """(tensor, whether fast_stats hands it to the reference path whole)."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(40_000, generator=g)
    on_edges = torch.from_numpy(np.array(fast_stats.stats(x).edges, np.float32))
    with_nan = x.clone()
    with_nan[::101] = float("nan")
    with_inf = x.clone()
    with_inf[7], with_inf[8] = float("inf"), -float("inf")
    return [
        (torch.cat([x, on_edges, on_edges.nextafter(torch.tensor(-np.inf))]), False),  # on edges
        (x.relu(), False),
        (x.half(), False),
        (x.bfloat16(), False),
        (x * 2.0**50, False),  # huge but inside the fast range
        (x.double(), True),
        ((x * 100).round().to(torch.int32), True),
        ((x * 100).round().to(torch.int64), True),
        (with_nan, True),
        (with_inf, True),
        (torch.full((20_000,), 2.5), True),  # constant
        (x * 1e-42, True),  # subnormal float32
        (x * 1e30, True),  # squares beyond the float32 row sums of the torch sweep
    ]


@pytest.mark.parametrize("i", range(13))
def test_stats_counts_are_those_of_the_reported_edges(i: int) -> None:
    x, reference = _awkward()[i]
    got = fast_stats.stats(x, 50)
    assert got.counts == _edge_counts(x, got.edges)
    ref = stats.compute(x, 50)
    assert (got.min, got.max, got.zeros, got.nan, got.posinf, got.neginf) == (
        ref.min, ref.max, ref.zeros, ref.nan, ref.posinf, ref.neginf,
    )  # fmt: skip
    if reference:
        assert got.to_dict() == ref.to_dict()


@pytest.mark.parametrize("i", range(5))
def test_kernel_path_equals_the_torch_sweep(i: int, monkeypatch) -> None:
    x, _ = _awkward()[i]
    got = fast_stats.stats(x, 50)
    monkeypatch.setattr(kernels, "available", lambda: False)
    ref = fast_stats.stats(x, 50)
    assert got.counts == ref.counts and got.edges == ref.edges


def test_moments_kernel_counts_every_nan_and_inf() -> None:
    # NaN/Inf are found by the largest magnitude, then counted in a second loop
    rng = np.random.default_rng(9)
    a = rng.standard_normal(30_011).astype(np.float32)
    a[::97] = -0.0
    a[5] = np.finfo(np.float32).max  # finite, largest magnitude: not bad
    lo, hi, total, sq, zeros, bad = kernels.moments_f32(a)
    assert bad == 0 and hi == float(np.finfo(np.float32).max)
    assert zeros == int((a == 0).sum()) and lo == float(a.min())
    bits = a.view(np.int32)
    bits[10:13] = np.array([0x7FC00000, 0xFFC00000, 0x7F800001], np.uint32).view(np.int32)  # NaNs
    a[20], a[21], a[22] = np.inf, -np.inf, np.inf
    assert kernels.moments_f32(a)[-1] == int((~np.isfinite(a)).sum()) == 6


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # NumPy's, tiny spans
def test_compiled_scale_equals_fast_norm() -> None:
    from layerscope.engine import _jit_kernels as jk

    rng = np.random.default_rng(12)
    f32 = np.finfo(np.float32)
    ranges = [(0.0, 1.0), (-1.0, -0.0), (1.0, float(np.nextafter(np.float32(1), np.float32(2)))),
              (-float(f32.max), float(f32.max)), (0.0, float(f32.tiny)), (0.0, 1e-45),
              (-3e38, 3e38), (1e-40, 2e-40), (-(2.0**126), 2.0**126)]  # fmt: skip
    ranges += [tuple(sorted(np.float32(rng.standard_normal(2) * 10 ** rng.uniform(-40, 38, 2))))
               for _ in range(300)]  # fmt: skip
    for lo, hi in ranges:
        lo, hi = float(np.float32(lo)), float(np.float32(hi))
        if not lo < hi:
            continue
        for bins in (1, 2, 7, 50, 256, 1000):
            want = fast_stats._fast_norm(lo, hi, bins)
            got = float(jk.fast_norm(lo, hi, bins))
            assert got == (0.0 if want is None else want), (lo, hi, bins)
            binned = kernels.bin_f32(np.array([lo, hi], np.float32), lo, hi, bins)
            if want is None:
                assert binned is None
            else:
                a = np.array([lo, hi], np.float32)
                counts = kernels.hist_f32(a, np.float32(lo), np.float32(want), bins).tolist()
                assert binned == (counts, fast_stats.thresholds(lo, hi, want, bins))
