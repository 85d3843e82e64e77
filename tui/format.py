"""Number and size formatting shared by the widgets (presentation only, no statistics)."""

from __future__ import annotations

import math


def human_count(n: int) -> str:
    """``1234567`` → ``1.2M``: short parameter counts for tree labels."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.1f}{suffix}"
    return str(n)


def human_size(n: int) -> str:
    """``123456`` → ``121K``: a byte count in at most five characters, for narrow columns."""
    size = float(n)
    for unit in ("B", "K", "M", "G"):
        if size < 1000 or unit == "G":
            return f"{size:.0f}{unit}" if size >= 10 or unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size:.0f}T"


def num(x: float | int | None, digits: int = 5) -> str:
    """A float in ``digits`` significant digits (``—`` for missing); integers stay exact."""
    if x is None:
        return "—"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:.{digits}g}"


def tick_labels(ticks: list[float], step: float) -> list[str]:
    """Axis labels with one shared number of decimals, enough to tell neighbours apart."""
    if step <= 0 or not math.isfinite(step):
        return [f"{t:g}" for t in ticks]
    if max(abs(t) for t in ticks) >= 1e5 or step < 1e-4:
        return [f"{t:.2g}" for t in ticks]
    decimals = max(0, 1 - math.floor(math.log10(step)))
    labels = [f"{t:.{decimals}f}" for t in ticks]
    return ["0" if float(label) == 0 else label for label in labels]  # never "-0.00"


def shape_str(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"
