"""The fast statistics path: exact counts for its edges, exact extremes and zeros, close moments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerscope.engine.capture import fast_stats as fs
from layerscope.engine.stats import compute


def _check(x: torch.Tensor, bins: int = 50) -> None:
    got, ref = fs.stats(x, bins), compute(x, bins)
    vals = x.detach().double().numpy().ravel()
    counts, _ = np.histogram(vals, bins=np.array(got.edges))
    assert counts.tolist() == got.counts
    assert (got.min, got.max, got.zeros, got.numel, got.shape) == (
        ref.min,
        ref.max,
        ref.zeros,
        ref.numel,
        ref.shape,
    )
    assert got.mean == pytest.approx(ref.mean, rel=1e-5, abs=1e-12)
    assert got.std == pytest.approx(ref.std, rel=1e-5)
    assert np.allclose(
        got.edges,
        ref.edges,
        rtol=0,
        atol=4 * np.spacing(np.float32(max(abs(ref.min), abs(ref.max)))),
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda g: torch.randn(4, 8, 33, 31, generator=g).relu_(),  # odd size, many zeros
        lambda g: torch.randn(1001, generator=g) * 1e-3 + 100.0,  # mean ≫ std: the two-pass branch
        lambda g: torch.rand(3000, generator=g).half(),
        lambda g: torch.randn(2048, generator=g).bfloat16(),
        lambda g: torch.tensor([0.0, 1.0]),
    ],
)
def test_matches_the_reference(make) -> None:
    _check(make(torch.Generator().manual_seed(0)))


def test_values_on_bin_edges_land_where_the_edges_say() -> None:
    x = torch.rand(5000, generator=torch.Generator().manual_seed(1))
    edges = np.array(fs.stats(x).edges[1:-1], dtype=np.float32)
    tricky = np.concatenate([x.numpy(), edges, np.nextafter(edges, np.float32(-np.inf))])
    _check(torch.from_numpy(tricky.astype(np.float32)))


def test_many_bins_take_the_plain_bincount() -> None:
    _check(torch.randn(999, generator=torch.Generator().manual_seed(2)), bins=200)


def test_nan_inf_and_constant_tensors_use_the_reference() -> None:
    x = torch.tensor([1.0, float("nan"), -float("inf"), 2.0])
    got = fs.stats(x)
    assert (got.nan, got.neginf, got.min, got.max) == (1, 1, 1.0, 2.0)
    assert got.edges == compute(x).edges
    const = fs.stats(torch.full((10,), 3.0))
    assert const.edges == compute(torch.full((10,), 3.0)).edges and sum(const.counts) == 10


def test_moments_merge_like_one_tensor() -> None:
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(300, 4, generator=g), torch.randn(500, 4, generator=g) * 3 + 1
    merged = fs.moments(a).merge(fs.moments(b))
    whole = compute(torch.cat([a, b]))
    assert merged.shape == (800, 4) and merged.zeros == whole.zeros
    s = merged.to_stats([], [])
    assert s.mean == pytest.approx(whole.mean, rel=1e-6) and s.std == pytest.approx(
        whole.std, rel=1e-6
    )
