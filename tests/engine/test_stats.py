"""Statistics agree with NumPy in float64, whatever the data throws at them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerscope.engine import stats


def _check_against_numpy(arr: np.ndarray, s: stats.TensorStats, bins: int) -> None:
    flat = arr.reshape(-1)
    finite = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
    assert s.numel == flat.size
    assert s.nan == int(np.isnan(flat).sum()) if flat.dtype.kind == "f" else s.nan == 0
    assert s.zeros == int((flat == 0).sum())
    if finite.size == 0:
        assert s.min is s.max is s.mean is s.std is None
        assert sum(s.counts) == 0
        return
    f64 = finite.astype(np.float64)
    assert s.min == f64.min() and s.max == f64.max()
    assert s.mean == pytest.approx(f64.mean(), rel=1e-12, abs=1e-15)
    assert s.std == pytest.approx(f64.std(), rel=1e-10, abs=1e-15)
    counts, edges = np.histogram(f64, bins=bins)
    assert s.counts == counts.tolist()
    np.testing.assert_allclose(s.edges, edges, rtol=0, atol=0)


@pytest.mark.parametrize("chunk", [7, 1000, stats.DEFAULT_CHUNK])
def test_random_float_matches_numpy_for_any_chunking(chunk: int) -> None:
    arr = np.random.default_rng(1).standard_normal(5003) * 3 + 1
    _check_against_numpy(arr, stats.compute(arr, bins=37, chunk_elems=chunk), 37)


def test_nan_and_inf_are_counted_apart_not_binned() -> None:
    arr = np.array([1.0, np.nan, np.inf, -np.inf, -np.inf, 0.0, 2.5, np.nan])
    s = stats.compute(arr, bins=4, chunk_elems=3)
    assert (s.nan, s.posinf, s.neginf) == (2, 1, 2)
    assert s.finite == 3 and sum(s.counts) == 3
    _check_against_numpy(arr, s, 4)


@pytest.mark.parametrize(
    "arr",
    [np.array([]), np.full(5, np.nan), np.full(17, 3.25), np.zeros((3, 4))],
    ids=["empty", "all-nan", "constant", "zeros"],
)
def test_degenerate_tensors_give_sensible_results(arr: np.ndarray) -> None:
    s = stats.compute(arr, bins=10)
    _check_against_numpy(arr, s, 10)
    assert len(s.edges) == 11


def test_constant_tensor_std_is_zero_and_one_bin_holds_all() -> None:
    s = stats.compute(np.full(9, -2.0), bins=5)
    assert s.std == 0.0 and max(s.counts) == 9


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int32, torch.int64, torch.bool])
def test_integer_and_bool_tensors(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    t = (
        torch.randint(0, 2, (1001,), generator=g)
        if dtype == torch.bool
        else torch.randint(-100, 100, (1001,), generator=g)
    )
    t = t.to(dtype)
    s = stats.compute(t, bins=13, chunk_elems=100)
    assert s.dtype == str(dtype).removeprefix("torch.")
    _check_against_numpy(
        t.numpy().astype(np.int64) if dtype != torch.bool else t.numpy().astype(np.uint8), s, 13
    )


def test_int64_extremes_are_exact() -> None:
    big = 2**62 + 1
    s = stats.compute(torch.tensor([big, -big, 5], dtype=torch.int64))
    assert s.max == big and s.min == -big


def test_bfloat16_statistics_use_the_exact_values() -> None:
    t = torch.randn(4097, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    s = stats.compute(t, bins=20, chunk_elems=1000)
    assert s.dtype == "bfloat16"
    _check_against_numpy(t.to(torch.float64).numpy(), s, 20)


def test_count_in_range_is_inclusive_and_ignores_nan() -> None:
    arr = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan])
    assert stats.count_in_range(arr, 0.0, 1.0, chunk_elems=2) == 3


def test_round_trip_through_dict() -> None:
    s = stats.compute(np.arange(10.0), bins=3)
    assert stats.TensorStats.from_dict(s.to_dict()) == s


def test_bins_must_be_positive() -> None:
    with pytest.raises(ValueError, match="bins"):
        stats.compute(np.ones(3), bins=0)
