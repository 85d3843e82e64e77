"""Progress of long CLI work on stderr: a rich bar on a terminal, a plain line every few seconds
otherwise (``LAYERSCOPE_PROGRESS_EVERY`` seconds, default 5), so logs of piped runs show it too.
stdout stays for the result (tables, ``--json``).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

_DEFAULT_EVERY = 5.0


class ProgressReporter:
    """``update(fraction, detail)`` from the work's callback; ``close()`` when it ends.

    ``label`` starts every plain line (``capture: 40% · batch 4/10 · … · ETA 3 s``).
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        try:
            self.every = float(os.environ.get("LAYERSCOPE_PROGRESS_EVERY", _DEFAULT_EVERY))
        except ValueError:
            self.every = _DEFAULT_EVERY
        self._last = -1.0
        self._bar: Any = None
        self._task: Any = None

    def _eta(self, fraction: float) -> str:
        spent = time.monotonic() - self.started
        if fraction <= 0:
            return "ETA …"
        left = spent * (1 - fraction) / fraction
        return f"ETA {left:.0f} s" if left < 120 else f"ETA {left / 60:.0f} min"

    def update(self, fraction: float | None, detail: str) -> None:
        fraction = None if fraction is None else min(max(fraction, 0.0), 1.0)
        if self.tty:
            self._rich(fraction, detail)
            return
        now = time.monotonic()  # short work prints nothing: the first line after `every` s
        if now - (self._last if self._last >= 0 else self.started) < self.every:
            return
        self._last = now
        pct = f"{fraction:.0%} · " if fraction is not None else ""
        eta = self._eta(fraction) if fraction is not None else "ETA …"
        print(f"{self.label}: {pct}{detail} · {eta}", file=sys.stderr, flush=True)

    def _rich(self, fraction: float | None, detail: str) -> None:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(), TextColumn("[dim]{task.fields[detail]}"),
                console=Console(stderr=True), transient=True,
            )  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=1.0, detail="")
        self._bar.update(self._task, completed=fraction or 0.0, detail=detail)

    def close(self, detail: str | None = None) -> None:
        """Stop the bar; on a non-terminal, a last line (``done in 3 s``) when one was printed."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif not self.tty and self._last >= 0 and detail is not None:
            spent = time.monotonic() - self.started
            print(f"{self.label}: {detail} · done in {spent:.0f} s", file=sys.stderr, flush=True)


def table_width(rows: list[list[str]], headers: list[str], fixed: int = 0) -> int | None:
    """The console width for a table: the terminal's on a terminal (``None``); piped, wide
    enough for every column's longest cell (3 characters of border and padding per column), so
    no number is ever broken across lines."""
    if sys.stdout.isatty():
        return None
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    return max(80, sum(widths) + 3 * len(widths) + 1 + fixed)
