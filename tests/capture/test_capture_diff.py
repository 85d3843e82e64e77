"""Diff flags on reports built by hand: each flag fires on its case and not on a healthy twin."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from layerscope.engine.diff import diff
from layerscope.engine.report import Report, ReportTensor
from layerscope.engine.stats import TensorStats


def _stats(values: np.ndarray, bins: int = 10) -> TensorStats:
    from layerscope.engine.stats import compute

    return compute(values.astype(np.float32), bins)


def _report(tensors: dict[str, tuple[str, np.ndarray]], **extra: Any) -> Report:
    return Report(
        model={"name": "m"}, input={}, capture={}, versions={}, created="now",
        tensors={n: ReportTensor(n, n, kind, _stats(v)) for n, (kind, v) in tensors.items()},
        **extra,
    )  # fmt: skip


rng = np.random.default_rng(0)
HEALTHY = rng.standard_normal(1000)


def _codes(a: dict, b: dict) -> dict[str, list[str]]:
    d = diff(_report(a), _report(b))
    return {r.name: [f.code for f in r.flags] for r in d.rows}


def test_identical_reports_have_no_flags() -> None:
    t = {"conv": ("Conv2d", HEALTHY), "relu": ("ReLU", np.maximum(HEALTHY, 0))}
    assert _codes(t, t) == {"conv": [], "relu": []}


def test_std_collapse_and_explosion() -> None:
    codes = _codes(
        {"a": ("Conv2d", HEALTHY), "b": ("Conv2d", HEALTHY)},
        {"a": ("Conv2d", HEALTHY * 0.05), "b": ("Conv2d", HEALTHY * 20)},
    )
    assert codes == {"a": ["std-shrank"], "b": ["std-grew"]}


def test_dead_relu_only_for_relu_like_layers() -> None:
    mostly_zero = np.where(rng.random(1000) < 0.95, 0.0, 1.0)
    codes = _codes(
        {"relu": ("ReLU", np.maximum(HEALTHY, 0)), "drop": ("Dropout", np.maximum(HEALTHY, 0))},
        {"relu": ("ReLU", mostly_zero), "drop": ("Dropout", mostly_zero)},
    )
    assert "dead" in codes["relu"] and "dead" not in codes["drop"]


def test_saturated_sigmoid() -> None:
    healthy = 1 / (1 + np.exp(-HEALTHY))
    pinned = 1 / (1 + np.exp(-HEALTHY * 40))
    assert "saturated" in _codes({"s": ("Sigmoid", healthy)}, {"s": ("Sigmoid", pinned)})["s"]
    assert _codes({"s": ("Sigmoid", healthy)}, {"s": ("Sigmoid", healthy)})["s"] == []


def test_nan_and_inf_appearing() -> None:
    bad = HEALTHY.copy()
    bad[:3] = np.nan
    bad[3] = np.inf
    d = diff(_report({"x": ("Linear", HEALTHY)}), _report({"x": ("Linear", bad)}))
    flags = {f.code: f.message for f in d.rows[0].flags}
    assert (
        flags["nan"] == "3 NaN values (none in A)" and flags["inf"] == "1 ±Inf values (none in A)"
    )


def test_mean_shift_threshold() -> None:
    assert _codes({"x": ("Linear", HEALTHY)}, {"x": ("Linear", HEALTHY + 2.0)})["x"] == [
        "mean-shift"
    ]
    assert _codes({"x": ("Linear", HEALTHY)}, {"x": ("Linear", HEALTHY + 0.5)})["x"] == []


def test_unmatched_names_are_listed_and_json_is_serialisable() -> None:
    import json

    d = diff(_report({"a": ("ReLU", HEALTHY), "only_a": ("ReLU", HEALTHY)}),
             _report({"a": ("ReLU", HEALTHY), "only_b": ("ReLU", HEALTHY)}))  # fmt: skip
    assert (d.only_a, d.only_b) == (["only_a"], ["only_b"])
    out = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert out["matched"] == 1 and out["only_in_b"] == ["only_b"]


def test_int_saturation_uses_the_integer_view() -> None:
    from layerscope.engine.stats import compute

    def tensor(ints: np.ndarray) -> ReportTensor:
        int_stats = compute(ints.astype(np.uint8), 256, hist_range=(-0.5, 255.5))
        real = compute((ints.astype(np.float32) - 0) * 0.1, 10)
        quant = {
            "scale": [0.1],
            "zero_point": [0],
            "axis": None,
            "qdtype": "uint8",
            "scheme": "qdq",
        }
        return ReportTensor("q", "q", "QuantizeLinear", real, int_stats, quant)

    ok = rng.integers(0, 200, 1000)
    clipped = ok.copy()
    clipped[:50] = 255
    zeros = ok.copy()
    zeros[:500] = 0  # zero point at qmin: zeros are ReLU output, not clipping
    base = Report({"name": "m"}, {}, {}, {}, "now", tensors={"q": tensor(ok)})

    def codes(t: ReportTensor) -> list[str]:
        other = Report({"name": "m"}, {}, {}, {}, "now", tensors={"q": t})
        return [f.code for f in diff(base, other).rows[0].flags if f.code == "saturated"]

    assert codes(tensor(clipped)) == ["saturated"]
    assert codes(tensor(zeros)) == []


@pytest.mark.parametrize("factor", [5.0, 50.0])
def test_std_factor_is_respected(factor: float) -> None:
    d = diff(
        _report({"x": ("Linear", HEALTHY)}),
        _report({"x": ("Linear", HEALTHY * 20)}),
        std_factor=factor,
    )
    assert ("std-grew" in [f.code for f in d.rows[0].flags]) == (factor < 20)
