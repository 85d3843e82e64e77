"""Asks for a model file or folder to open (palette: "model: open path")."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from layerscope.tui.widgets.ordered_input import OrderedInput


class OpenPath(ModalScreen[Path | None]):
    """An input prefilled with the current folder; Enter opens, Escape cancels."""

    DEFAULT_CSS = """
    OpenPath {
        align: center middle;
    }
    OpenPath > Vertical {
        width: 80;
        max-width: 95%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    OpenPath Label {
        width: 100%;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="open.cancel")]

    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Open a model file, a folder of models, or a folder of safetensors shards:")
            yield OrderedInput(self.start, placeholder="path", id="path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.dismiss(Path(text).expanduser() if text else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
