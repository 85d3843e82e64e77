"""Text renderings shared by the CLI: numbers, sizes and ASCII histograms."""

from __future__ import annotations

import math

from engine.stats import TensorStats

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
