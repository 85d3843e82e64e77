"""Compare two activation reports layer by layer and flag what a collapsing network looks like.

Tensors are matched by name. Report A is the reference (a healthy run, the float model), B the
suspect. Flags describe B; where A already had the same problem the message says so.

* ``std-shrank`` / ``std-grew``: B's std is over ``std_factor`` (10×) smaller / larger than A's.
* ``dead``: ≥ ``dead_fraction`` (90%) of B's values are exactly zero after a ReLU-like layer.
* ``saturated``: ≥ ``saturation`` (50%) of B's values sit in the outermost histogram bins of a
  bounded activation (sigmoid, tanh, hardtanh, ReLU6 at its top...), or ≥ ``int_saturation`` (1%)
  of a quantized tensor's integers are clipped at the ends of the integer range.
* ``nan`` / ``inf``: B has NaN / ±Inf values.
* ``mean-shift``: B's mean moved by more than ``mean_shift`` (1.0) of A's standard deviations.
* ``shape``: the per-sample shape differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine.report import Report, ReportTensor
from engine.stats import TensorStats

RELU_LIKE = {"ReLU", "ReLU6", "Relu", "Threshold", "Clip", "QLinearRelu"}
BOUNDED_BOTH = {"Sigmoid", "Tanh", "Hardtanh", "Hardsigmoid", "HardSigmoid", "Softsign", "Clip",
                "QLinearSigmoid", "LogSigmoid"}  # fmt: skip
BOUNDED_TOP = {"ReLU6"}


@dataclass
class Flag:
    """One finding: a stable ``code`` for scripts and a sentence for people."""

    code: str
    message: str


@dataclass
class DiffRow:
    """A tensor present in both reports."""

    name: str
    layer: str
    kind: str
    a: TensorStats
    b: TensorStats
    std_ratio: float | None
    mean_shift: float | None
    flags: list[Flag] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def brief(s: TensorStats) -> dict[str, Any]:
            return {"shape": list(s.shape), "mean": s.mean, "std": s.std, "min": s.min, "max": s.max,
                    "zero_fraction": s.zero_fraction, "nan": s.nan, "inf": s.posinf + s.neginf}  # fmt: skip

        return {
            "name": self.name,
            "layer": self.layer,
            "kind": self.kind,
            "a": brief(self.a),
            "b": brief(self.b),
            "std_ratio": _json_num(self.std_ratio),
            "mean_shift_in_a_std": _json_num(self.mean_shift),
            "flags": [{"code": f.code, "message": f.message} for f in self.flags],
        }


@dataclass
class ReportDiff:
    """The comparison: matched rows in A's order, and the names only one side has."""

    a: str
    b: str
    rows: list[DiffRow]
    only_a: list[str]
    only_b: list[str]
    thresholds: dict[str, float]

    @property
    def flagged(self) -> list[DiffRow]:
        return [r for r in self.rows if r.flags]

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "thresholds": self.thresholds,
            "matched": len(self.rows),
            "flagged": len(self.flagged),
            "rows": [r.to_dict() for r in self.rows],
            "only_in_a": self.only_a,
            "only_in_b": self.only_b,
        }


def _json_num(v: float | None) -> float | str | None:
    if v is None or math.isfinite(v):
        return v
    return "inf" if v > 0 else "-inf"


def diff(
    a: Report,
    b: Report,
    *,
    std_factor: float = 10.0,
    dead_fraction: float = 0.9,
    saturation: float = 0.5,
    int_saturation: float = 0.01,
    mean_shift: float = 1.0,
) -> ReportDiff:
    """Compare ``a`` (reference) with ``b`` tensor by tensor."""
    th = {"std_factor": std_factor, "dead_fraction": dead_fraction, "saturation": saturation,
          "int_saturation": int_saturation, "mean_shift": mean_shift}  # fmt: skip
    rows = [
        _row(name, ta, b.tensors[name], th) for name, ta in a.tensors.items() if name in b.tensors
    ]
    return ReportDiff(
        a=str(a.path or a.model.get("name") or "A"),
        b=str(b.path or b.model.get("name") or "B"),
        rows=rows,
        only_a=[n for n in a.tensors if n not in b.tensors],
        only_b=[n for n in b.tensors if n not in a.tensors],
        thresholds=th,
    )


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _row(name: str, ta: ReportTensor, tb: ReportTensor, th: dict[str, float]) -> DiffRow:
    sa, sb = ta.stats, tb.stats
    flags: list[Flag] = []
    ratio = shift = None
    if sa.std is not None and sb.std is not None:
        ratio = sb.std / sa.std if sa.std > 0 else (1.0 if sb.std == 0 else math.inf)
        if ratio > th["std_factor"]:
            flags.append(
                Flag("std-grew", f"std grew {_times(ratio)} ({sa.std:.3g} → {sb.std:.3g})")
            )
        elif ratio < 1 / th["std_factor"]:
            flags.append(
                Flag(
                    "std-shrank",
                    f"std shrank {_times(1 / ratio if ratio else math.inf)} ({sa.std:.3g} → {sb.std:.3g})",
                )
            )
    if sa.mean is not None and sb.mean is not None and sa.std is not None:
        delta = abs(sb.mean - sa.mean)
        shift = delta / sa.std if sa.std > 0 else (0.0 if delta == 0 else math.inf)
        if shift > th["mean_shift"]:
            flags.append(
                Flag(
                    "mean-shift", f"mean moved {shift:.3g} std of A ({sa.mean:.3g} → {sb.mean:.3g})"
                )
            )
    kind = tb.kind or ta.kind
    if _relu_like(kind, name) and sb.numel and sb.zero_fraction >= th["dead_fraction"]:
        also = " (also in A)" if sa.numel and sa.zero_fraction >= th["dead_fraction"] else ""
        flags.append(
            Flag("dead", f"dead: {_pct(sb.zero_fraction)} zeros after {kind or 'ReLU'}{also}")
        )
    sat_b, sat_a, limit = _saturation(tb, kind), _saturation(ta, kind), th["saturation"]
    if tb.int_stats is not None and tb.quant:
        limit = th["int_saturation"]
    if sat_b is not None and sat_b >= limit:
        also = f" (A: {_pct(sat_a)})" if sat_a is not None else ""
        flags.append(
            Flag("saturated", f"saturated: {_pct(sat_b)} of values at the range's ends{also}")
        )
    for code, nb, na in (
        ("nan", sb.nan, sa.nan),
        ("inf", sb.posinf + sb.neginf, sa.posinf + sa.neginf),
    ):
        if nb:
            also = " (also in A)" if na else " (none in A)"
            label = "NaN" if code == "nan" else "±Inf"
            flags.append(Flag(code, f"{nb} {label} values{also}"))
    if tuple(sa.shape[1:]) != tuple(sb.shape[1:]):
        flags.append(Flag("shape", f"shape changed {tuple(sa.shape)} → {tuple(sb.shape)}"))
    return DiffRow(name, tb.layer or ta.layer, kind, sa, sb, ratio, shift, flags)


def _times(r: float) -> str:
    return "∞×" if math.isinf(r) else f"{r:.3g}×"


def _relu_like(kind: str, name: str) -> bool:
    return kind in RELU_LIKE or (not kind and "relu" in name.lower().rsplit(".", 1)[-1])


def _saturation(t: ReportTensor, kind: str) -> float | None:
    """Share of values pinned at the ends of a bounded range; ``None`` where that means nothing."""
    if t.int_stats is not None and t.quant:
        s = t.int_stats
        if not s.finite or len(s.edges) < 3 or len(s.counts) != round(s.edges[-1] - s.edges[0]):
            return None  # only a one-bin-per-integer histogram says exactly what is clipped
        zps = set(t.quant.get("zero_point") or [])
        lo_bin = (
            0 if s.edges and math.floor(s.edges[0] + 0.5) not in zps else None
        )  # qmin = zero point: ReLU zeros
        pinned = s.counts[-1] + (s.counts[lo_bin] if lo_bin is not None else 0)
        return pinned / s.finite
    s = t.stats
    if not s.finite or len(s.counts) < 2:
        return None
    if kind in BOUNDED_TOP:
        return s.counts[-1] / s.finite
    if kind in BOUNDED_BOTH:
        return (s.counts[0] + s.counts[-1]) / s.finite
    return None
