"""The log pane at the bottom: lines from the loguru sink, newest last."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

LEVEL_STYLES = {"ERROR": "bold red", "WARNING": "yellow", "SUCCESS": "green", "DEBUG": "dim"}


class LogPane(RichLog):
    """A bounded, auto-scrolling log (the app keeps a backlog for panes mounted later)."""

    DEFAULT_CSS = """
    LogPane {
        height: 6;
        border: round $panel;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=500, wrap=True, auto_scroll=True, markup=False)
        self.border_title = "Log"
        self.can_focus = False

    def add_line(self, text: str, level: str = "INFO") -> None:
        self.write(Text(text, LEVEL_STYLES.get(level, "")))
