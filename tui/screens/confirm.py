"""A yes/no question asked once before something that cannot be taken back (stopping a run,
quitting with one going). ``y`` or Enter on Yes answers yes; ``n`` or Escape, no; the key that
asked (``again``) pressed again also means yes, so "q q" quits."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class Confirm(ModalScreen[bool]):
    """``question`` with a Yes (``yes``) and a No button; No is focused: the safe default."""

    DEFAULT_CSS = """
    Confirm {
        align: center middle;
    }
    Confirm > Vertical {
        width: 64;
        max-width: 100%;
        height: auto;
        border: round $warning;
        background: $surface;
        padding: 0 1;
    }
    Confirm #question {
        margin: 1 0;
        width: 100%;
    }
    Confirm Horizontal {
        height: auto;
        align: right middle;
    }
    Confirm Button {
        margin-left: 2;
    }
    """
    BINDINGS = [
        Binding("escape,n", "answer(False)", "No", id="confirm.no"),
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
    ]

    def __init__(self, question: str, yes: str, *, again: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.again = again

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="question")
            with Horizontal():
                yield Button("No (n)", id="no", variant="primary")
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()
        if self.again:
            self._bindings.bind(self.again, "answer(True)", show=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
