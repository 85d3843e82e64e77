"""The log pane at the bottom: lines from the loguru sink, newest last.

The ``RichLog`` inside is mounted after the first frame (importing it pulls in ``rich.pretty``,
a cost the start-up should not pay); lines that arrive before then wait in a short buffer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widget import MountError, Widget

if TYPE_CHECKING:
    from textual.widgets import RichLog

LEVEL_STYLES = {"ERROR": "bold red", "WARNING": "yellow", "SUCCESS": "green", "DEBUG": "dim"}
MAX_LINES = 500


class LogPane(Widget):
    """A bounded, auto-scrolling log (the app keeps a backlog for panes mounted later)."""

    DEFAULT_CSS = """
    LogPane {
        height: 6;
        border: round $panel;
        background: $surface;
    }
    LogPane > RichLog {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Log"
        self._log: RichLog | None = None
        self._pending: list[Text] = []

    def on_mount(self) -> None:
        self.call_after_refresh(self._mount_log)

    def _mount_log(self) -> None:
        from textual.widgets import RichLog

        log = RichLog(max_lines=MAX_LINES, wrap=True, auto_scroll=True, markup=False)
        log.can_focus = False
        try:
            self.mount(log)
        except MountError:  # the app is already on its way out (quit during the first frame)
            return
        self._log = log
        for line in self._pending:
            self._log.write(line)
        self._pending.clear()

    def add_line(self, text: str, level: str = "INFO") -> None:
        line = Text(text, LEVEL_STYLES.get(level, ""))
        if self._log is None:
            self._pending = [*self._pending[-MAX_LINES + 1 :], line]
        else:
            self._log.write(line)
