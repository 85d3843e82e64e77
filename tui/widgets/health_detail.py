"""The cell under the heatmap's cursor: every stored value of that layer at that step, its
activation histogram, and the alerts raised there. It only presents what the screen read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.text import Text
from textual.widgets import Static

BARS = " ▁▂▃▄▅▆▇█"
# (label, field) rows in the order a researcher reads them: the activation, then gradients.
ROWS = (
    ("act std", "act_std"),
    ("act mean", "act_mean"),
    ("act min", "act_min"),
    ("act max", "act_max"),
    ("zeros", "act_zero_fraction"),
    ("NaN / Inf", None),
    ("out grad ‖·‖", "out_grad_norm"),
    ("grad ‖·‖", "grad_norm"),
    ("grad std", "grad_std"),
    ("‖w‖", "weight_norm"),
    ("update ratio", "update_ratio"),
)


@dataclass
class CellDetail:
    """One cell, as read from ``layerscope.engine.training.health.HealthLog``."""

    layer: str
    kind: str
    values: dict[str, float]  # HealthLog.cell(): every field, plus step and epoch
    counts: np.ndarray | None = None
    edges: np.ndarray | None = None
    first_step: int = 0  # the heatmap column's steps (several samples share a narrow column)
    last_step: int = 0
    samples: int = 1
    shown: str = ""  # which sample of the column the values are ("the min of act_std")
    alerts: list[dict[str, Any]] = field(default_factory=list)


def fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if v == 0:
        return "0"
    return f"{v:.4g}"


def sparkline(counts: np.ndarray, width: int) -> str:
    """One line of bars, one per bin (neighbouring bins summed when they do not fit)."""
    c = np.asarray(counts, dtype=np.float64)
    if not len(c):
        return ""
    group = max(1, math.ceil(len(c) / max(width, 1)))
    if group > 1:
        c = np.add.reduceat(c, np.arange(0, len(c), group))
    top = c.max()
    if top <= 0:
        return BARS[0] * len(c)
    return "".join(BARS[min(len(BARS) - 1, math.ceil(v / top * (len(BARS) - 1)))] for v in c)


class HealthDetail(Static):
    """Values at the cursor; ``show(None)`` gives the hint."""

    DEFAULT_CSS = """
    HealthDetail {
        height: 1fr;
        padding: 0 1;
        overflow-y: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.detail: CellDetail | None = None

    def show(self, detail: CellDetail | None, hint: str = "") -> None:
        self.detail = detail
        self.update(self.text(detail, hint))

    def text(self, d: CellDetail | None, hint: str = "") -> Text:
        if d is None:
            return Text(hint or "Move the cursor over the heatmap.", "dim italic")
        v = d.values
        out = Text()
        out.append(f"{d.layer}", "bold")
        out.append(f" {d.kind}\n", "dim")
        where = f"step {v.get('step', '?')} · epoch {int(v.get('epoch', 0)) + 1}"
        out.append(where + "\n")
        if d.samples > 1:
            out.append(
                f"column: steps {d.first_step}–{d.last_step} ({d.samples} samples)"
                + (f", {d.shown}" if d.shown else "")
                + "\n",
                "dim",
            )
        for label, key in ROWS:
            if key is None:
                nan, inf = v.get("act_nan", math.nan), v.get("act_inf", math.nan)
                bad = (nan or 0) + (inf or 0) > 0
                out.append(f"{label:<13}", "dim")
                out.append(f"{fmt(nan)} / {fmt(inf)}\n", "bold red" if bad else "")
                continue
            value = v.get(key, math.nan)
            shown = fmt(value)
            if key == "act_zero_fraction" and not math.isnan(value):
                shown = f"{100 * value:.1f}%"
            out.append(f"{label:<13}", "dim")
            out.append(shown + "\n")
        if d.counts is not None and d.edges is not None and len(d.counts):
            width = max(8, self.size.width - 2) if self.size.width else 32
            out.append("activation histogram\n", "dim")
            out.append(sparkline(d.counts, width) + "\n", "#ff8c00")
            lo, hi = d.edges[0], d.edges[-1]
            if math.isfinite(lo) and math.isfinite(hi):
                left, right = fmt(float(lo)), fmt(float(hi))
                pad = max(1, min(width, len(d.counts)) - len(left) - len(right))
                out.append(f"{left}{' ' * pad}{right}\n", "dim")
        for a in d.alerts:
            out.append(f"✖ {a.get('rule')}: ", "bold #ff3b3b")
            out.append(f"{a.get('message', '')}\n")
        out.rstrip()
        return out
