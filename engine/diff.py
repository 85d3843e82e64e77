"""Compare two activation reports layer by layer and flag what a collapsing network looks like.

Tensors are matched by name; where the formats name them differently (torch ``layer1.conv1``,
ONNX ``/layer1/conv1/Conv_output_0`` from node ``/layer1/conv1/Conv``) by the module path the
ONNX node name spells, and a row then carries both names. Report A is the reference (a healthy
run, the float model), B the suspect. Flags describe B; each message names its rule and numbers.

Thresholds scale with what the data shows: a change is flagged when it is large in itself, or
when it stands out from the quietest tenth of the layers (the "noise floor": 0 when the layers
before a fault are bit-identical, larger when A and B differ everywhere, e.g. float vs int8).

* ``std-shrank`` / ``std-grew``: B's std is over ``std_factor`` (3×) smaller / larger than A's,
  or it changed by over ``std_drift`` (1.5×) and by over ``noise_k`` (4) times the noise floor.
* ``shifted``: the value distributions differ by a Kolmogorov-Smirnov distance (computed from
  the two histograms, zeros as a point mass) over ``ks_distance`` (0.15) and over ``noise_k``
  times the noise floor: what a collapse does downstream even where the std barely moves.
* ``dead``: ≥ ``dead_fraction`` (90%) of B's values are exactly zero after a ReLU-like layer, or
  B's zero share rose by over ``dead_rise`` (50 points) in any layer.
* ``saturated``: ≥ ``saturation`` (50%) of B's values sit in the outermost histogram bins of a
  bounded activation (sigmoid, tanh, hardtanh, ReLU6 at its top...), or ≥ ``int_saturation`` (1%)
  of a quantized tensor's integers are clipped at the ends of the integer range.
* ``nan`` / ``inf``: B has NaN / ±Inf values.
* ``mean-shift``: B's mean moved by more than ``mean_shift`` (1.0) of A's standard deviations.
* ``shape``: the per-sample shape differs.

Reports of different models or inputs are compared all the same, with ``warnings`` saying so.

Long because each flag's rule, its explanation and the torch/ONNX name matching live together so
a flag's message always states the rule that raised it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from layerscope.engine.report import Report, ReportTensor
from layerscope.engine.stats import TensorStats

RELU_LIKE = {"ReLU", "ReLU6", "Relu", "Threshold", "Clip", "QLinearRelu"}
BOUNDED_BOTH = {"Sigmoid", "Tanh", "Hardtanh", "Hardsigmoid", "HardSigmoid", "Softsign", "Clip",
                "QLinearSigmoid", "LogSigmoid"}  # fmt: skip
BOUNDED_TOP = {"ReLU6"}
# Input fields that say which data a capture saw (``sha256`` of the batch, when recorded, decides).
_INPUT_KEYS = ("spec", "source", "shape", "dtype", "indices", "seed", "normalization", "transforms")


@dataclass
class Flag:
    """One finding: a stable ``code`` for scripts, a sentence for people, the rule that fired."""

    code: str
    message: str
    rule: str = ""


@dataclass
class DiffRow:
    """A tensor present in both reports (``name_b``: its name in B where that differs)."""

    name: str
    layer: str
    kind: str
    a: TensorStats
    b: TensorStats
    std_ratio: float | None
    mean_shift: float | None
    flags: list[Flag] = field(default_factory=list)
    name_b: str = ""
    ks: float | None = None

    @property
    def label(self) -> str:
        """``name`` or, matched across formats, ``name = name_b``."""
        n = self.name or "(output)"
        return f"{n} = {self.name_b}" if self.name_b and self.name_b != self.name else n

    def to_dict(self) -> dict[str, Any]:
        def brief(s: TensorStats) -> dict[str, Any]:
            return {"shape": list(s.shape), "mean": s.mean, "std": s.std, "min": s.min, "max": s.max,
                    "zero_fraction": s.zero_fraction, "nan": s.nan, "inf": s.posinf + s.neginf}  # fmt: skip

        return {
            "name": self.name,
            "name_b": self.name_b or self.name,
            "layer": self.layer,
            "kind": self.kind,
            "a": brief(self.a),
            "b": brief(self.b),
            "std_ratio": _json_num(self.std_ratio),
            "mean_shift_in_a_std": _json_num(self.mean_shift),
            "ks_distance": self.ks,
            "flags": [{"code": f.code, "message": f.message, "rule": f.rule} for f in self.flags],
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
    warnings: list[str] = field(default_factory=list)
    noise: dict[str, float] = field(default_factory=dict)
    same_input: bool | None = None
    same_model: bool | None = None

    @property
    def flagged(self) -> list[DiffRow]:
        return [r for r in self.rows if r.flags]

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "warnings": self.warnings,
            "same_input": self.same_input,
            "same_model": self.same_model,
            "thresholds": self.thresholds,
            "noise_floor": self.noise,
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
    a: Report | str | os.PathLike[str],
    b: Report | str | os.PathLike[str],
    *,
    std_factor: float = 3.0,
    std_drift: float = 1.5,
    ks_distance: float = 0.15,
    noise_k: float = 4.0,
    dead_fraction: float = 0.9,
    dead_rise: float = 0.5,
    saturation: float = 0.5,
    int_saturation: float = 0.01,
    mean_shift: float = 1.0,
) -> ReportDiff:
    """Compare ``a`` (reference) with ``b`` tensor by tensor; either is a report or its path."""
    from layerscope.engine import report as report_io

    a = a if isinstance(a, Report) else report_io.load(a)
    b = b if isinstance(b, Report) else report_io.load(b)
    th = {"std_factor": std_factor, "std_drift": std_drift, "ks_distance": ks_distance,
          "noise_k": noise_k, "dead_fraction": dead_fraction, "dead_rise": dead_rise,
          "saturation": saturation, "int_saturation": int_saturation,
          "mean_shift": mean_shift}  # fmt: skip
    pairs = _match(a, b)
    rows = [_row(na, a.tensors[na], nb, b.tensors[nb]) for na, nb in pairs]
    noise = _noise_floor(rows)
    for r in rows:
        r.flags = _flags(r, a.tensors[r.name], b.tensors[r.name_b or r.name], th, noise)
    matched_a = {na for na, _ in pairs}
    matched_b = {nb for _, nb in pairs}
    d = ReportDiff(
        a=str(a.path or a.model.get("name") or "A"),
        b=str(b.path or b.model.get("name") or "B"),
        rows=rows,
        only_a=[n for n in a.tensors if n not in matched_a],
        only_b=[n for n in b.tensors if n not in matched_b],
        thresholds=th,
        noise=noise,
    )
    _provenance(d, a, b)
    return d


# -- matching ----------------------------------------------------------------------------------
_ONNX_SUFFIX = re.compile(r"_output_\d+$")


def _module_key(t: ReportTensor) -> str | None:
    """The module path an ONNX node name spells (``/layer1/conv1/Conv`` → ``layer1.conv1``)."""
    node = t.layer or _ONNX_SUFFIX.sub("", t.name)
    if not node.startswith("/"):
        return None
    parts = [p for p in node.split("/") if p]
    return ".".join(parts[:-1]) if len(parts) > 1 else None  # the last part is the operator


def _match(a: Report, b: Report) -> list[tuple[str, str]]:
    """(A name, B name) pairs in A's order: equal names first, then torch path ↔ ONNX node."""
    pairs = [(n, n) for n in a.tensors if n in b.tensors]
    if len(pairs) == min(len(a.tensors), len(b.tensors)):
        return pairs
    done_a, done_b = {n for n, _ in pairs}, {n for n, _ in pairs}

    def keyed(r: Report, done: set[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for n, t in r.tensors.items():  # production order: a module's last op is its output
            if n not in done:
                key = _module_key(t)
                if key is not None:
                    out[key] = n
                elif n and "/" not in n:
                    out.setdefault(n, n)
        return out

    ka, kb = keyed(a, done_a), keyed(b, done_b)
    extra = {ka[k]: kb[k] for k in ka if k in kb and ka[k] != kb[k]}
    if not extra:
        return pairs
    order = {n: i for i, n in enumerate(a.tensors)}
    return sorted(pairs + list(extra.items()), key=lambda p: order[p[0]])


# -- per-row numbers and the noise floor -------------------------------------------------------
def _row(na: str, ta: ReportTensor, nb: str, tb: ReportTensor) -> DiffRow:
    sa, sb = ta.stats, tb.stats
    ratio = shift = None
    if sa.std is not None and sb.std is not None:
        ratio = sb.std / sa.std if sa.std > 0 else (1.0 if sb.std == 0 else math.inf)
    if sa.mean is not None and sb.mean is not None and sa.std is not None:
        delta = abs(sb.mean - sa.mean)
        shift = delta / sa.std if sa.std > 0 else (0.0 if delta == 0 else math.inf)
    kind = tb.kind or ta.kind
    row = DiffRow(na, tb.layer or ta.layer, kind, sa, sb, ratio, shift, name_b=nb)
    row.ks = _ks(sa, sb)
    return row


def _log_change(ratio: float | None) -> float | None:
    if ratio is None or ratio <= 0 or math.isinf(ratio):
        return None
    return abs(math.log(ratio))


def _noise_floor(rows: list[DiffRow]) -> dict[str, float]:
    """How much the quietest tenth of the layers changed: the change that is not news.

    Not the median: a fault early in the network moves most layers, and those must not become
    the yardstick that hides it.
    """

    def q10(values: list[float]) -> float:
        return float(np.quantile(values, 0.1)) if values else 0.0

    logs = [x for r in rows if (x := _log_change(r.std_ratio)) is not None]
    ks = [r.ks for r in rows if r.ks is not None]
    return {"std_change": math.exp(q10(logs)), "ks_distance": q10(ks)}


def _cdf(s: TensorStats) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """(edges, cumulative share without zeros, share of exact zeros, share of finite values)."""
    if not s.finite or s.min is None or s.max is None or len(s.edges) != len(s.counts) + 1:
        return None
    edges = np.asarray(s.edges, dtype=np.float64).copy()
    counts = np.asarray(s.counts, dtype=np.float64).copy()
    edges[0], edges[-1] = max(edges[0], s.min), min(edges[-1], s.max)  # the true range
    zeros = float(s.zeros)
    if zeros:  # ReLU zeros are a point mass, not spread over their bin
        i = int(np.clip(np.searchsorted(edges, 0.0, side="right") - 1, 0, len(counts) - 1))
        counts[i] = max(counts[i] - zeros, 0.0)
    total = float(counts.sum()) + zeros
    if total <= 0:
        return None
    cum = np.concatenate([[0.0], np.cumsum(counts)]) / total
    return edges, cum, zeros / total, total


def _cdf_at(
    c: tuple[np.ndarray, np.ndarray, float, float], xs: np.ndarray, at_zero: bool
) -> np.ndarray:
    edges, cum, zero_share, _ = c
    if edges[-1] <= edges[0]:  # a constant: one step
        body = (xs >= edges[0]).astype(np.float64) * cum[-1]
    else:
        body = np.interp(xs, edges, cum, left=0.0, right=cum[-1])
    step = (xs >= 0) if at_zero else (xs > 0)
    return body + zero_share * step


def _ks(sa: TensorStats, sb: TensorStats) -> float | None:
    """Kolmogorov-Smirnov distance of the two value distributions, from their histograms."""
    ca, cb = _cdf(sa), _cdf(sb)
    if ca is None or cb is None:
        return None
    xs = np.union1d(np.union1d(ca[0], cb[0]), [0.0])
    d = max(float(np.max(np.abs(_cdf_at(ca, xs, z) - _cdf_at(cb, xs, z)))) for z in (True, False))
    return round(d, 6)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


# -- flags -------------------------------------------------------------------------------------
def _flags(
    r: DiffRow, ta: ReportTensor, tb: ReportTensor, th: dict[str, float], noise: dict[str, float]
) -> list[Flag]:
    sa, sb, kind, ratio = r.a, r.b, r.kind, r.std_ratio
    flags: list[Flag] = []
    if ratio is not None and sa.std is not None and sb.std is not None and ratio != 1.0:
        change = math.inf if ratio == 0 else max(ratio, 1 / ratio)
        floor = noise["std_change"]
        drift_limit = max(th["std_drift"], floor ** th["noise_k"])
        rule = ""
        if change > th["std_factor"]:
            rule = f"beyond {th['std_factor']:g}×"
        elif change > drift_limit:
            rule = (
                f"beyond {drift_limit:.3g}×: the least-changed tenth of the layers moved "
                f"≤{floor:.3g}×"
            )
        if rule:
            code, verb = ("std-grew", "grew") if ratio > 1 else ("std-shrank", "shrank")
            flags.append(
                Flag(
                    code, f"std {verb} {_times(change)} ({sa.std:.3g} → {sb.std:.3g}): {rule}", rule
                )
            )
    if r.mean_shift is not None and r.mean_shift > th["mean_shift"]:
        rule = f"mean moved over {th['mean_shift']:g} std of A"
        flags.append(
            Flag(
                "mean-shift",
                f"mean moved {r.mean_shift:.3g} std of A ({sa.mean:.3g} → {sb.mean:.3g}): {rule}",
                rule,
            )
        )
    ks_limit = max(th["ks_distance"], noise["ks_distance"] * th["noise_k"])
    if r.ks is not None and r.ks > ks_limit and not any(f.code.startswith("std") for f in flags):
        rule = (
            f"KS distance over {ks_limit:.3g} (the least-changed tenth of the layers: "
            f"≤{noise['ks_distance']:.3g})"
        )
        flags.append(
            Flag(
                "shifted",
                f"distribution changed: KS distance {r.ks:.3g} between A's and B's histograms: {rule}",
                rule,
            )
        )
    dead = ""
    if _relu_like(kind, r.name) and sb.numel and sb.zero_fraction >= th["dead_fraction"]:
        also = " (also in A)" if sa.numel and sa.zero_fraction >= th["dead_fraction"] else ""
        dead = f"{_pct(sb.zero_fraction)} zeros after {kind or 'ReLU'}{also}"
        rule = f"at least {_pct(th['dead_fraction'])} zeros after a ReLU-like layer"
    elif sa.numel and sb.numel and sb.zero_fraction - sa.zero_fraction > th["dead_rise"]:
        rise = sb.zero_fraction - sa.zero_fraction
        dead = (
            f"zeros {_pct(sa.zero_fraction)} → {_pct(sb.zero_fraction)} (+{100 * rise:.0f} points)"
        )
        rule = f"zero share up by over {100 * th['dead_rise']:.0f} points"
    if dead:
        flags.append(Flag("dead", f"dead: {dead}: {rule}", rule))
    sat_b, sat_a, limit = _saturation(tb, kind), _saturation(ta, kind), th["saturation"]
    if tb.int_stats is not None and tb.quant:
        limit = th["int_saturation"]
    if sat_b is not None and sat_b >= limit:
        also = f" (A: {_pct(sat_a)})" if sat_a is not None else ""
        rule = f"at least {_pct(limit)} at the ends of a bounded range"
        flags.append(
            Flag("saturated", f"saturated: {_pct(sat_b)} of values at the range's ends{also}", rule)
        )
    for code, nb, na in (
        ("nan", sb.nan, sa.nan),
        ("inf", sb.posinf + sb.neginf, sa.posinf + sa.neginf),
    ):
        if nb:
            also = " (also in A)" if na else " (none in A)"
            label = "NaN" if code == "nan" else "±Inf"
            flags.append(Flag(code, f"{nb} {label} values{also}", f"any {label} in B"))
    if tuple(sa.shape[1:]) != tuple(sb.shape[1:]):
        flags.append(
            Flag("shape", f"shape changed {tuple(sa.shape)} → {tuple(sb.shape)}", "shapes differ")
        )
    return flags


# -- provenance --------------------------------------------------------------------------------
def _provenance(d: ReportDiff, a: Report, b: Report) -> None:
    """Say first when A and B saw different data or are different models."""
    ia, ib = a.input or {}, b.input or {}
    if ia.get("sha256") and ib.get("sha256"):
        d.same_input = ia["sha256"] == ib["sha256"]
    elif any(k in ia or k in ib for k in _INPUT_KEYS):
        d.same_input = all(ia.get(k) == ib.get(k) for k in _INPUT_KEYS)
    if d.same_input is False:
        d.warnings.append(
            f"A and B were captured on different inputs (A: {_input_label(ia)}; B: "
            f"{_input_label(ib)}): differences may come from the data, not the model"
        )
    na, nb = len(a.tensors), len(b.tensors)
    shapes = sum(tuple(r.a.shape[1:]) != tuple(r.b.shape[1:]) for r in d.rows)
    if na and nb and (len(d.rows) < 0.5 * max(na, nb) or shapes):
        d.same_model = False
        why = f"{len(d.rows)} of {na} / {nb} tensors match"
        if shapes:
            why += f", {shapes} with other shapes"
        d.warnings.append(
            f"A and B look like different models ({_model_label(a)} vs {_model_label(b)}: "
            f"{why}); only matching tensors are compared"
        )
    elif a.model.get("sha256") and a.model.get("sha256") == b.model.get("sha256"):
        d.same_model = True


def _input_label(i: dict[str, Any]) -> str:
    text = str(i.get("description") or i.get("spec") or "?")
    return text if len(text) <= 80 else text[:77] + "…"


def _model_label(r: Report) -> str:
    name = r.model.get("name") or r.model.get("path") or "?"
    fmt = r.model.get("format")
    return f"{name} ({fmt})" if fmt else str(name)


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
