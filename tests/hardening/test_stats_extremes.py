"""Statistics at the edges of float64 and int64: right numbers (checked with exact arithmetic),
never a ZeroDivisionError/IndexError, never Inf/NaN in JSON output."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from layerscope.engine import stats
from layerscope.engine.cli import main


def _exact(values: list) -> tuple[float, float]:
    """Mean and population std of ``values`` in exact rational arithmetic."""
    fr = [Fraction(v) for v in values]
    mean = sum(fr) / len(fr)
    var = sum((v - mean) ** 2 for v in fr) / len(fr)
    if var == 0:
        return float(mean), 0.0
    k = (
        var.numerator.bit_length() - var.denominator.bit_length()
    ) // 2  # sqrt(v) = 2**k sqrt(v/4**k)
    return float(mean), math.ldexp(math.sqrt(float(var / Fraction(4) ** k)), k)


def _no_constant(text: str) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"JSON holds the non-standard literal {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.int64])
@pytest.mark.parametrize("value", [2.0**53, -(2.0**60), 2.0**62])
def test_constant_beyond_2_53_does_not_divide_by_zero(dtype: torch.dtype, value: float) -> None:
    x = torch.full((7,), value, dtype=torch.float64).to(dtype)
    s = stats.compute(x, bins=10)
    v = x[0].item()
    assert s.min == s.max == v and s.mean == v and s.std == 0.0
    assert sum(s.counts) == 7 and len(s.edges) == 11
    assert s.edges[0] <= v <= s.edges[-1]
    assert all(a < b for a, b in zip(s.edges, s.edges[1:], strict=False))


def test_int64_max_constant_like_an_onnx_slice_end() -> None:
    s = stats.compute(torch.tensor([2**63 - 1] * 3), bins=50)
    assert s.min == s.max == 2**63 - 1 and sum(s.counts) == 3


def test_subnormal_range_does_not_index_out_of_bounds() -> None:
    arr = np.array([0.0, 1e-310, 5e-311, 3e-308])
    s = stats.compute(arr[:3], bins=10)
    assert sum(s.counts) == 3 and s.min == 0.0 and s.max == 1e-310
    s = stats.compute(arr, bins=10)
    assert sum(s.counts) == 4


@pytest.mark.parametrize(
    "values",
    [[1e200, -1e200, 3e200], [1.7e308, -1.7e308, 0.0], [1e-200, 2e-200, 4e-200], [1e155] * 2 + [0]],
)
def test_float64_moments_neither_overflow_nor_underflow(values: list[float]) -> None:
    s = stats.compute(np.array(values), bins=8)
    mean, std = _exact(values)
    assert s.mean == pytest.approx(mean, rel=1e-12)
    assert s.std == pytest.approx(std, rel=1e-12) and math.isfinite(s.std)
    assert sum(s.counts) == len(values)
    assert all(math.isfinite(e) for e in s.edges)


@pytest.mark.parametrize(
    "values",
    [
        [2**62, 2**62 + 1, 2**62 + 3],
        [-(2**63), 2**63 - 1],
        [2**63 - 1, 2**63 - 2, 2**63 - 1, -5],
        [9007199254740993, 9007199254740992, 9007199254740995],
    ],
)
@pytest.mark.parametrize("chunk", [1, 2, 1 << 20])
def test_int64_moments_are_exact(values: list[int], chunk: int) -> None:
    s = stats.compute(torch.tensor(values, dtype=torch.int64), bins=4, chunk_elems=chunk)
    mean, std = _exact(values)
    assert s.min == min(values) and s.max == max(values)
    assert s.mean == mean
    assert s.std == pytest.approx(std, rel=1e-15)


def test_uint64_beyond_int64() -> None:
    values = [2**64 - 1, 2**63, 0, 2**64 - 3]
    s = stats.compute(torch.tensor(np.array(values, dtype=np.uint64)), bins=4)
    mean, std = _exact(values)
    assert (s.min, s.max, s.zeros) == (0, 2**64 - 1, 1)
    assert s.mean == mean and s.std == pytest.approx(std, rel=1e-15)


def test_fast_capture_statistics_near_1e30_stay_finite() -> None:
    from layerscope.engine.capture import fast_stats

    g = torch.Generator().manual_seed(3)
    x = (torch.randn(8, 1024, generator=g) * 1e30).float()
    s = fast_stats.stats(x, bins=16)
    ref = x.double().numpy()
    assert math.isfinite(s.std)
    assert s.std == pytest.approx(float(ref.std()), rel=1e-5)
    assert s.mean == pytest.approx(float(ref.mean()), rel=1e-3, abs=1e-5 * float(ref.std()))
    m = fast_stats.moments(x)
    assert math.isfinite(m.m2)


@pytest.mark.parametrize("scale", [1.0, 1e200, 1e300])
def test_moments_merged_over_batches_stay_exact_for_huge_values(scale: float) -> None:
    """Capture merges per-batch statistics (Chan et al.): values near 1e300 have squares beyond
    float64, so the merge works in units of a power of two; the std is NumPy's, not inf."""
    from layerscope.engine.capture import fast_stats

    g = torch.Generator().manual_seed(5)
    a = torch.randn(4, 256, generator=g, dtype=torch.float64) * scale
    b = (torch.randn(4, 256, generator=g, dtype=torch.float64) + 3.0) * scale
    parts = [fast_stats.Moments.from_stats(stats.compute(x, 8)) for x in (a, b)]
    merged = parts[0].merge(parts[1]).to_stats([], [])
    # NumPy's std of the values in units of `scale` (exact rescaling would differ by rounding).
    ref = torch.cat([a, b]).numpy() / scale
    assert merged.std is not None and math.isfinite(merged.std)
    assert merged.std / scale == pytest.approx(float(ref.std()), rel=1e-12)
    assert merged.mean / scale == pytest.approx(float(ref.mean()), rel=1e-12)
    assert merged.shape == (8, 256)


@pytest.mark.parametrize(
    ("dtype", "fill"),
    [("uint16", 7), ("uint32", 7), ("float8_e8m0fnu", 2.0), ("uint64", 7)],
)
def test_unusual_dtypes_get_statistics(dtype: str, fill: float) -> None:
    x = (
        torch.full((5,), fill).to(getattr(torch, dtype))
        if dtype != "uint64"
        else torch.tensor(np.full(5, 7, dtype=np.uint64))
    )
    s = stats.compute(x, bins=4)
    assert s.min == s.max == fill and s.mean == fill and s.std == 0.0 and s.numel == 5


def test_complex_statistics_are_of_the_magnitude_and_say_so() -> None:
    z = torch.tensor([3 + 4j, 0j, -5 + 12j], dtype=torch.complex64)
    s = stats.compute(z, bins=4)
    assert (s.min, s.max, s.zeros) == (0.0, 13.0, 1)
    assert s.mean == pytest.approx(6.0)
    assert "magnitude" in (s.note or "")
    assert s.dtype == "complex64"


@pytest.mark.parametrize("kind", ["fp4", "meta", "sparse"])
def test_tensors_without_readable_values_say_so(kind: str) -> None:
    if kind == "fp4":
        x = torch.zeros(6, dtype=torch.uint8).view(torch.float4_e2m1fn_x2)
    elif kind == "meta":
        x = torch.empty(2, 3, device="meta")
    else:
        x = torch.eye(3).to_sparse()
    s = stats.compute(x, bins=4)
    assert s.mean is None and s.note
    assert s.numel == math.prod(x.shape)
    _no_constant(json.dumps(s.to_dict(), allow_nan=False))


# --- JSON: no Inf/NaN literals, one representation ------------------------------------------


def test_inspect_json_has_no_inf_or_nan_literals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sd = {
        "a.weight": torch.tensor([1.7e308, -1.7e308, math.inf, math.nan], dtype=torch.float64),
        "b.weight": torch.tensor([2**63 - 1] * 4),
    }
    torch.save(sd, tmp_path / "m.pt")
    assert main(["inspect", str(tmp_path / "m.pt"), "--json"]) == 0
    doc = _no_constant(capsys.readouterr().out)
    assert main(["inspect", str(tmp_path / "m.pt"), "--json", "--layer", "a"]) == 0
    one = _no_constant(capsys.readouterr().out)
    st = one["tensor"]["stats"]
    assert (st["nan"], st["posinf"], st["neginf"]) == (1, 1, 0)
    assert doc["layers"]


def test_json_writer_turns_non_finite_numbers_into_strings_and_back(tmp_path: Path) -> None:
    from layerscope.engine import io as eio
    from layerscope.engine import report

    text = eio.dumps({"a": [math.inf, -math.inf, math.nan, 1.5], "b": {"c": math.nan}})
    assert _no_constant(text) == {"a": ["inf", "-inf", "nan", 1.5], "b": {"c": "nan"}}
    st = stats.TensorStats(
        shape=(2,), dtype="float32", numel=2, min=1.0, max=2.0, mean=math.inf, std=math.nan,
        zeros=0, nan=0, posinf=0, neginf=0, counts=[1, 1], edges=[1.0, 1.5, 2.0],
    )  # fmt: skip
    rep = report.Report(model={}, input={}, capture={}, versions={}, created="now",
                        tensors={"t": report.ReportTensor("t", "l", "Linear", st)})  # fmt: skip
    path = report.save(rep, tmp_path / "r.json")
    _no_constant(path.read_text())
    back = report.load(path).tensors["t"].stats
    assert back.mean == math.inf and math.isnan(back.std)
