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
    r"^\d{4}-\d\d-\d\d (?P<time>\d\d:\d\d:\d\d)\.\d+ \| (?P<level>\w+)\s*\| [^ ]+ - (?P<text>.*)$"
)
LEVEL_STYLES = {"ERROR": "bold red", "CRITICAL": "bold red", "WARNING": "yellow", "DEBUG": "dim"}
EVENT_STYLES = {
    "epoch": "bold",
    "finished": "bold green",
    "stopped": "bold yellow",
    "failed": "bold red",
}


def short_log_line(line: str) -> tuple[str, str]:
    """(text, level) for one ``train.log`` line: the date and source location dropped, since
    the pane is narrow; continuation lines (tables, tracebacks) pass through unchanged."""
    m = LOGURU_LINE.match(line)
    if m is None:
        return line, ""
    return f"{m['time']} {m['text']}", m["level"]


SHOWN_METRICS = ("train_loss", "val_loss", "val_acc", "val_acc_top5")  # of the epoch event's many


def event_line(e: dict[str, Any], max_epochs: int | None = None) -> str:
    """One short line for an event. Epochs count from 1 here, as in the status box and the runs
    list (the engine's events and folder names count from 0); paths are shortened to names."""
    from engine.training.events import format_event  # light module: json, time, paths

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
            from tui.widgets.run_status import duration

            parts.append(f"ETA {duration(e['eta_s'])}")
        return " ".join(parts)
    if kind == "epoch":
        metrics = e.get("metrics", {})
        shown = " ".join(f"{k} {metrics[k]:.4f}" for k in SHOWN_METRICS if k in metrics)
        return f"{stamp} {epoch} done: {shown}"
    if kind == "checkpoint":
        return f"{stamp} saved {e.get('kind', '')} checkpoint {Path(str(e.get('path'))).name}"
    return format_event(e)


class RunLog(RichLog):
    """A bounded, auto-scrolling log of one run (the app's own log stays in the inspector)."""

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
        super().__init__(id=id, max_lines=2000, wrap=True, auto_scroll=True, markup=False)
        self.border_title = "Run log"
        self.lines_text: list[str] = []  # plain copies (tests and the user's copy-paste read them)

    def add(self, text: str, style: str = "") -> None:
        self.lines_text.append(text)
        if len(self.lines_text) > 2 * self.max_lines:  # trimmed in bulk: cheap per line
            del self.lines_text[: -self.max_lines]
        self.write(Text(text, style))

    def add_event_line(self, text: str, kind: str) -> None:
        self.add(text, EVENT_STYLES.get(kind, ""))

    def add_log_line(self, line: str) -> None:
        text, level = short_log_line(line)
        # Log lines are dimmer than the progress events, which are what most people watch.
        self.add(text, LEVEL_STYLES.get(level, "dim"))

    def reset(self, title: str) -> None:
        self.clear()
        self.lines_text.clear()
        self.border_title = title
