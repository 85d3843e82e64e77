"""Asks before loading a file that could run code (a whole pickled module, TorchScript)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmTrust(ModalScreen[bool]):
    """Yes only on an explicit choice; Escape and "No" decline."""

    DEFAULT_CSS = """
    ConfirmTrust {
        align: center middle;
    }
    ConfirmTrust > Vertical {
        width: 70;
        max-width: 95%;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 1 2;
    }
    ConfirmTrust Label {
        width: 100%;
    }
    ConfirmTrust #question {
        margin: 1 0;
    }
    ConfirmTrust Horizontal {
        height: auto;
        align: right middle;
    }
    ConfirmTrust Button {
        margin-left: 2;
    }
    """
    BINDINGS = [
        Binding("escape", "decline", "Don't load", id="trust.decline"),
        Binding("y", "accept", "Trust and load", id="trust.accept"),
    ]

    def __init__(self, path: Path, reason: str, *, code: bool = False) -> None:
        super().__init__()
        self.path = path
        self.reason = reason
        self.code = code  # TorchScript: the file is a program, not only a pickle

    def compose(self) -> ComposeResult:
        what = (
            "TorchScript is code: loading and capturing run the archive's own code."
            if self.code
            else "Unpickling it runs code from the file."
        )
        with Vertical():
            yield Label(f"[b]Trust {self.path.name}?[/b]", id="title")
            yield Label(
                f"{self.reason}\n\n{what} Only continue if you made it or trust whoever did.",
                id="question",
            )
            with Horizontal():
                yield Button("No", id="no", variant="primary")
                yield Button("Trust and load (y)", id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer is the default

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_accept(self) -> None:
        self.dismiss(True)

    def action_decline(self) -> None:
        self.dismiss(False)
