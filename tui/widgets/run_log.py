"""The run's log: its progress events and ``train.log`` lines, as they are written."""

from __future__ import annotations

import re

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
