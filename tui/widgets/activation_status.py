"""The capture status line: a spinner while capturing, then what was captured from what input."""

from __future__ import annotations

from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget


class ActivationStatus(Widget):
    """One line: ``42 tensors captured · input: CIFAR-10 test[17] (label=cat)``, and a note."""

    DEFAULT_CSS = """
    ActivationStatus {
        height: 1;
        width: 1fr;
        padding: 0 1;
    }
    ActivationStatus.-wrap {
        height: auto;
        max-height: 4;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = "Enter (or Run) captures every layer's output."  # fits 80 columns
        self.note = ""
        self.wrap = False  # a failure wraps onto a few lines: its reason must be read whole
        self._spinner: Spinner | None = None

    @property
    def busy(self) -> bool:
        return self._spinner is not None

    def start(self, text: str) -> None:
        """Spin beside ``text`` until ``stop``."""
        self._spinner = Spinner("dots", style="bold cyan")
        self.text, self.wrap = text, False
        self.auto_refresh = 1 / 12
        self._changed()

    def stop(self, text: str | None = None, *, wrap: bool = False) -> None:
        self._spinner = None
        self.auto_refresh = None
        if text is not None:
            self.text, self.wrap = text, wrap
        self._changed()

    def set_text(self, text: str) -> None:
        self.text = text
        self._changed()

    def set_note(self, note: str) -> None:
        """A warning shown before the status (e.g. the selected layer has no activation)."""
        if note != self.note:
            self.note = note
            self._changed()

    def _changed(self) -> None:
        self.tooltip = f"{self.note}\n{self.text}".strip() or None  # the line is cut to the width
        self.set_class(self.wrap, "-wrap")  # a failure takes a few lines, the next text one again
        self.refresh(layout=True)

    def render(self) -> RenderResult:
        line = Text(no_wrap=not self.wrap, overflow="ellipsis")
        if self.note:
            line.append(f"⚠ {self.note}", "bold yellow")
            line.append(" · ", "dim")
        line.append(self.text, "dim" if self.note else "")
        if self._spinner is None:
            return line
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        grid.add_row(self._spinner, line)
        return grid
