"""Every stored dtype: statistics and histograms equal NumPy's in float64, chunked or not.

Reference arrays are decoded by ml_dtypes from the same bytes torch reads, so a decoding mistake
in either would show up here.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
import torch

from layerscope.engine import stats


def _reference(flat: np.ndarray, bins: int, hist_range: tuple[float, float] | None = None) -> dict:
    """What NumPy says, in float64, about ``flat`` (any numeric dtype)."""
    with np.errstate(invalid="ignore"):  # NaN patterns of bf16/fp8 cast with a warning
        f = flat.astype(np.float64)
    finite = f[np.isfinite(f)]
    out = {
        "numel": f.size,
        "nan": int(np.isnan(f).sum()),
        "posinf": int((f == np.inf).sum()),
        "neginf": int((f == -np.inf).sum()),
        "zeros": int((f == 0).sum()),
    }
    if finite.size:
        out.update(min=finite.min(), max=finite.max(), mean=finite.mean(), std=finite.std())
        counts, edges = np.histogram(finite, bins=bins, range=hist_range)
        out.update(counts=counts.tolist(), edges=edges.tolist())
    return out


def _check(s: stats.TensorStats, ref: dict) -> None:
    for key in ("numel", "nan", "posinf", "neginf", "zeros"):
        assert getattr(s, key) == ref[key], key
    if "min" not in ref:
        assert s.min is s.max is s.mean is s.std is None
        assert sum(s.counts) == 0
        return
    assert s.min == ref["min"] and s.max == ref["max"]
    assert s.mean == pytest.approx(ref["mean"], rel=1e-12, abs=1e-300)
    assert s.std == pytest.approx(ref["std"], rel=1e-10, abs=1e-300)
    assert s.counts == ref["counts"]
    assert s.edges == ref["edges"]


def _random_bytes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


FLOAT8 = [
    (torch.float8_e4m3fn, ml_dtypes.float8_e4m3fn),
    (torch.float8_e5m2, ml_dtypes.float8_e5m2),
]


@pytest.mark.parametrize(("tdtype", "mldtype"), FLOAT8, ids=["e4m3fn", "e5m2"])
def test_float8_every_bit_pattern_counts_like_numpy(tdtype: torch.dtype, mldtype: type) -> None:
    raw = _random_bytes(20_000, 1)  # random bytes: every NaN/Inf/zero/subnormal pattern turns up
    t = torch.from_numpy(raw.copy()).view(tdtype)
    s = stats.compute(t, bins=33)
    assert s.dtype == str(tdtype).removeprefix("torch.")
    _check(s, _reference(raw.view(mldtype), 33))
    assert s.nan > 0


def test_bfloat16_random_bit_patterns_including_nan_and_inf() -> None:
    raw = _random_bytes(2 * 30_000, 2)
    t = torch.from_numpy(raw.copy()).view(torch.bfloat16)
    ref = _reference(raw.view(ml_dtypes.bfloat16), 40)
    s = stats.compute(t, bins=40)
    assert s.dtype == "bfloat16" and s.nan and s.posinf + s.neginf
    # Random patterns span 1e-38..1e38: mean/std are dominated by a few huge values; still exact.
    _check(s, ref)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_types_gaussian_with_nan_inf_in_some_chunks(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(3)
    t = (torch.randn(10_000, generator=g) * 0.02 + 0.5).to(dtype)
    t[17] = float("nan")
    t[9_000] = float("inf")
    t[9_001] = float("-inf")
    t[100:140] = 0
    ref = _reference(t.to(torch.float64).numpy(), 50)
    for chunk in (97, 333, 4096, stats.DEFAULT_CHUNK):
        _check(stats.compute(t, bins=50, chunk_elems=chunk), ref)


@pytest.mark.parametrize(
    "dtype", [torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64, torch.uint16]
)
def test_integer_types_match_numpy_and_report_integers(dtype: torch.dtype) -> None:
    info = torch.iinfo(dtype)
    lo, hi = max(info.min, -70_000), min(info.max, 70_000)
    g = torch.Generator().manual_seed(4)
    t = torch.randint(lo, hi + 1, (5_001,), generator=g, dtype=torch.int64).to(dtype)
    if dtype != torch.int64:  # int64 extremes: float64 means differ by rounding; see below
        t[0], t[1] = info.min, info.max  # extremes must not overflow
    s = stats.compute(t, bins=25, chunk_elems=1_000)
    assert s.dtype == str(dtype).removeprefix("torch.")
    assert isinstance(s.min, int) and isinstance(s.max, int)
    _check(s, _reference(t.to(torch.int64).numpy(), 25))


def test_bool_counts_true_and_false() -> None:
    t = torch.tensor([True, False, True, True, False, True])
    s = stats.compute(t, bins=2)
    assert (s.min, s.max, s.zeros, s.counts) == (0, 1, 2, [2, 4])
    assert s.mean == pytest.approx(4 / 6) and s.dtype == "bool"


def test_int64_beyond_2_53_keeps_exact_extremes_in_every_chunking() -> None:
    big = 2**62 + 3
    t = torch.tensor([5, big, -big, 2**53 + 1, 7] * 3, dtype=torch.int64)
    for chunk in (1, 2, 4, 100):
        s = stats.compute(t, chunk_elems=chunk)
        assert (s.min, s.max) == (-big, big)
        assert isinstance(s.max, int)


def test_int_view_histogram_range_is_honoured() -> None:
    t = torch.tensor([-128, -1, 0, 0, 5, 127], dtype=torch.int8)
    s = stats.compute(t, bins=256, hist_range=(-128.5, 127.5))
    assert s.counts[0] == 1 and s.counts[128] == 2 and s.counts[255] == 1 and sum(s.counts) == 6
    assert s.edges[0] == -128.5 and s.edges[-1] == 127.5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.int32])
def test_chunked_equals_unchunked_with_nonfinite_only_in_some_chunks(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(5)
    t = (torch.randn(50_000, generator=g) * 3 - 1).to(dtype)
    if dtype.is_floating_point:
        t[49_990] = math.nan  # only the last chunks see NaN/Inf
        t[30_001] = math.inf
    whole = stats.compute(t, bins=64, chunk_elems=t.numel())
    for chunk in (997, 8_192, 49_999):
        part = stats.compute(t, bins=64, chunk_elems=chunk)
        assert part.counts == whole.counts and part.edges == whole.edges
        assert (part.min, part.max, part.zeros) == (whole.min, whole.max, whole.zeros)
        assert (part.nan, part.posinf, part.neginf) == (whole.nan, whole.posinf, whole.neginf)
        assert part.mean == pytest.approx(whole.mean, rel=1e-12)
        assert part.std == pytest.approx(whole.std, rel=1e-12)
    ref = _reference(t.to(torch.float64).numpy(), 64)
    _check(whole, ref)


def test_all_nan_half_tensor_has_no_range_but_counts_everything() -> None:
    t = torch.full((10,), math.nan, dtype=torch.bfloat16)
    s = stats.compute(t, bins=4)
    assert s.nan == 10 and s.min is None and s.counts == [0, 0, 0, 0]


def test_table_path_agrees_with_float32_path() -> None:
    """bf16 takes the bit-pattern route; the same values as float32 take the chunked route."""
    g = torch.Generator().manual_seed(6)
    t = torch.randn(30_000, generator=g).to(torch.bfloat16)
    a = stats.compute(t, bins=50)
    b = stats.compute(t.float(), bins=50, chunk_elems=4_096)
    assert (a.min, a.max, a.counts, a.edges) == (b.min, b.max, b.counts, b.edges)
    assert a.mean == pytest.approx(b.mean, rel=1e-12)
    assert a.std == pytest.approx(b.std, rel=1e-12)


def test_input_array_is_never_modified() -> None:
    arr = np.random.default_rng(7).standard_normal(1_000)
    before = arr.copy()
    stats.compute(arr, bins=10, chunk_elems=100)
    np.testing.assert_array_equal(arr, before)


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_elems"):
        stats.compute(np.ones(3), chunk_elems=0)


def _edge_hugging_float32(lo: float, hi: float, bins: int) -> np.ndarray:
    """float32 values at, just below and just above every float64 bin edge."""
    edges = np.linspace(lo, hi, bins + 1)
    near = edges.astype(np.float32)
    vals = np.concatenate([
        near, np.nextafter(near, np.float32(-np.inf)), np.nextafter(near, np.float32(np.inf)),
    ])  # fmt: skip
    return vals[(vals >= np.float32(lo)) & (vals <= np.float32(hi))]


@pytest.mark.parametrize(("lo", "hi", "bins"), [(-1.0, 1.0, 7), (0.1, 0.7, 50), (-3.3e5, 17.0, 13)])
def test_float32_values_on_bin_edges_land_where_numpy_puts_them(
    lo: float, hi: float, bins: int
) -> None:
    lo32, hi32 = float(np.float32(lo)), float(np.float32(hi))
    vals = _edge_hugging_float32(lo32, hi32, bins)
    vals = np.concatenate([vals, [np.float32(lo32), np.float32(hi32)]]).astype(np.float32)
    s = stats.compute(torch.from_numpy(vals), bins=bins, chunk_elems=5)
    counts, edges = np.histogram(vals.astype(np.float64), bins=bins)
    assert s.counts == counts.tolist() and s.edges == edges.tolist()


def test_float32_range_too_wide_for_float32_still_bins_like_numpy() -> None:
    vals = np.array([-3.0e38, -1.0, 0.0, 2.5e37, 3.0e38], dtype=np.float32)
    s = stats.compute(torch.from_numpy(vals), bins=9)
    counts, edges = np.histogram(vals.astype(np.float64), bins=9)
    assert s.counts == counts.tolist() and s.edges == edges.tolist()


def test_float32_histogram_range_that_float32_cannot_hold_exactly() -> None:
    vals = np.linspace(-1, 1, 1001, dtype=np.float32)
    s = stats.compute(torch.from_numpy(vals), bins=10, hist_range=(-0.1, 0.3))
    counts, _ = np.histogram(vals.astype(np.float64), bins=10, range=(-0.1, 0.3))
    assert s.counts == counts.tolist()


def test_float32_tiny_range_bins_like_numpy() -> None:
    vals = np.array([1e-44, 2e-44, 3e-44, 1.0e-40, 1.1e-40], dtype=np.float32)
    s = stats.compute(torch.from_numpy(vals), bins=4)
    counts, edges = np.histogram(vals.astype(np.float64), bins=4)
    assert s.counts == counts.tolist() and s.edges == edges.tolist()


def test_threaded_pattern_count_equals_single_threaded(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(8)
    t = torch.randn(100_003, generator=g).to(torch.bfloat16)
    t[77] = math.nan
    one = stats.compute(t, bins=30)
    monkeypatch.setattr(stats, "_PER_THREAD", 1_000)  # big-tensor behaviour on a small tensor
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        many = stats.compute(t, bins=30, chunk_elems=999)
    finally:
        torch.set_num_threads(threads)
    assert many == one
