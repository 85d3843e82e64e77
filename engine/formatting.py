"""Text renderings of numbers, sizes and histograms, for the CLI and the app alike.

Presentation only: nothing here computes a statistic. ``fmt_*`` and ``ascii_histogram`` are the
CLI's; ``num``, ``human_*``, ``tick_labels`` and ``shape_str`` the widgets' (narrow columns).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from layerscope.engine.stats import TensorStats

BLOCKS = " ▏▎▍▌▋▊▉█"


def fmt_num(v: float | int | None, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, int):
        return f"{v:,}"
    if math.isnan(v):
        return "nan"
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}" if abs(v) >= 1 else f"{v:.{digits}f}"


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def fmt_count(n: int) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def ascii_histogram(stats: TensorStats, width: int = 40) -> list[str]:
    """One line per bin: ``[lo, hi)  ████▌ count``, bars scaled to the fullest bin."""
    if not stats.counts:
        return []
    peak = max(stats.counts) or 1
    labels = [
        f"[{fmt_num(stats.edges[i])}, {fmt_num(stats.edges[i + 1])})"
        for i in range(len(stats.counts))
    ]
    pad = max(len(label) for label in labels)
    lines = []
    for label, count in zip(labels, stats.counts, strict=True):
        eighths = round(count / peak * width * 8)
        bar = "█" * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")
        lines.append(f"{label:<{pad}}  {bar:<{width}} {count:,}")
    extra = [
        f"{name}={n:,}"
        for name, n in (("nan", stats.nan), ("+inf", stats.posinf), ("-inf", stats.neginf))
        if n
    ]
    if extra:
        lines.append("not in bins: " + ", ".join(extra))
    return lines


# -- the app's widgets ------------------------------------------------------------------------


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


def count_ticks(top: float, most: int) -> tuple[list[float], list[str]]:
    """Whole-number ticks (1, 2 or 5 × 10^k apart, at most ``most`` + 1) for a count axis up to
    ``top``: a count of values is never 16.8."""
    top, most = max(float(top), 1.0), max(1, most)
    step, k = 1, 0
    while top // step > most:  # ticks above 0 at most `most`, but always one (a short plot too)
        k += 1
        step = (1, 2, 5)[k % 3] * 10 ** (k // 3)
    ticks = [float(i * step) for i in range(int(top // step) + 1)]
    return ticks, [human_count(int(t)) for t in ticks]


def shape_str(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"
