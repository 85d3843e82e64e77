"""The run's log: its progress events and ``train.log`` lines, as they are written."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widgets import RichLog

# loguru's default format in train.log: "2026-11-25 09:45:39.154 | INFO     | module:fn:12 - text"
LOGURU_LINE = re.compile(
    r"^(?P<stamp>\d{4}-\d\d-\d\d (?P<time>\d\d:\d\d:\d\d))\.(?P<ms>\d+) \| (?P<level>\w+)\s*\| "
    r"[^ ]+ - (?P<text>.*)$"
)
LEVEL_STYLES = {"ERROR": "bold red", "CRITICAL": "bold red", "WARNING": "yellow", "DEBUG": "dim"}
EVENT_STYLES = {
    "epoch": "bold",
    "finished": "bold green",
    "stopped": "bold yellow",
    "failed": "bold red",
    "alert": "bold #ff3b3b",  # layer health (the Layer health view marks the same cells)
}


def short_log_line(line: str) -> tuple[str, str, float | None]:
    """(text, level, time) for one ``train.log`` line: the date and source location dropped,
    since the pane is narrow; continuation lines (tables, tracebacks) pass through with no time."""
    m = LOGURU_LINE.match(line)
    if m is None:
        return line, "", None
    stamp = time.mktime(time.strptime(m["stamp"], "%Y-%m-%d %H:%M:%S")) + float(m["ms"]) / 1000
    return f"{m['time']} {m['text']}", m["level"], stamp


MAX_LINES = 2000
SHOWN_METRICS = ("train_loss", "val_loss", "val_acc", "val_acc_top5")  # of the epoch event's many


def event_line(e: dict[str, Any], max_epochs: int | None = None) -> str:
    """One short line for an event. Epochs count from 1 here, as in the status box and the runs
    list (the engine's events and folder names count from 0); paths are shortened to names."""
    from layerscope.engine.training.events import format_event  # light module: json, time, paths

    kind = e.get("event")
    stamp = time.strftime("%H:%M:%S", time.localtime(e.get("time", 0)))
    epoch = f"epoch {e.get('epoch', 0) + 1}/{max_epochs or '?'}"
    if kind == "progress":
        total = e.get("total_steps")
        parts = [stamp, epoch, f"step {e.get('step')}" + (f"/{total}" if total else "")]
        if e.get("loss") is not None:
            parts.append(f"loss {e['loss']:.4f}")
        if e.get("lr") is not None:
            parts.append(f"lr {e['lr']:.3g}")
        if e.get("samples_per_sec") is not None:
            parts.append(f"{e['samples_per_sec']:.0f} img/s")
        if e.get("eta_s") is not None:
            from layerscope.tui.widgets.run_status import duration

            parts.append(f"ETA {duration(e['eta_s'])}")
        return " ".join(parts)
    metrics = e.get("metrics", {})
    shown = " ".join(f"{k} {metrics[k]:.4f}" for k in SHOWN_METRICS if k in metrics)
    if kind == "epoch":
        return f"{stamp} {epoch} done: {shown}"
    if kind in ("finished", "stopped"):
        return f"{stamp} run {kind}" + (f": {shown}" if shown else "")
    if kind == "checkpoint":
        return f"{stamp} saved {e.get('kind', '')} checkpoint {Path(str(e.get('path'))).name}"
    return format_event(e)


class RunLog(RichLog):
    """A bounded, auto-scrolling log of one run, in time order (the app's own log stays in the
    inspector). Events and ``train.log`` lines come from two tails; when a batch arrives older
    than what is shown (a replay), the pane is rewritten merged by time."""

    DEFAULT_CSS = """
    RunLog {
        height: 1fr;
        min-height: 4;
        border: round $panel;
        border-title-color: $text-muted;
    }
    RunLog:focus {
        border: round $accent;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_LINES, wrap=True, auto_scroll=True, markup=False)
        self.border_title = "Run log"
        self.entries: list[tuple[float, int, str, str]] = []  # (time, arrival, text, style)
        self._arrivals = 0
        self._log_time = 0.0  # of the last timestamped train.log line: continuation lines share it

    @property
    def lines_text(self) -> list[str]:
        """The shown lines as plain text (tests read them)."""
        return [e[2] for e in self.entries]

    def add(self, text: str, style: str = "", at: float | None = None) -> None:
        """One line of the screen's own (launched, errors), at ``at`` or now."""
        at = time.time() if at is None else at
        self._add([(at, f"{time.strftime('%H:%M:%S', time.localtime(at))} {text}", style)])

    def add_event_line(self, text: str, kind: str, at: float) -> None:
        self._add([(at, text, EVENT_STYLES.get(kind, ""))])

    def add_log_lines(self, lines: list[str]) -> None:
        items = []
        for line in lines:
            text, level, stamp = short_log_line(line)
            if stamp is not None:
                self._log_time = stamp
            # Log lines are dimmer than the progress events, which are what most people watch.
            items.append((self._log_time, text, LEVEL_STYLES.get(level, "dim")))
        self._add(items)

    def _add(self, items: list[tuple[float, str, str]]) -> None:
        new = []
        for at, text, style in items:
            self._arrivals += 1
            new.append((at, self._arrivals, text, style))
        if not new:
            return
        in_order = all(a[0] <= b[0] for a, b in zip(new, new[1:], strict=False))
        if in_order and (not self.entries or new[0][0] >= self.entries[-1][0]):
            self.entries += new
            for _, _, text, style in new:
                self.write(Text(text, style))
        else:
            self.entries = sorted(self.entries + new)[-MAX_LINES:]
            self.clear()
            for _, _, text, style in self.entries:
                self.write(Text(text, style))
        if len(self.entries) > 2 * MAX_LINES:  # trimmed in bulk: cheap per line
            del self.entries[:-MAX_LINES]

    def reset(self, title: str) -> None:
        self.clear()
        self.entries.clear()
        self._log_time = 0.0
        self.border_title = title
