"""Asks for one or two report paths (save a capture, compare reports); Enter moves on, then accepts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from layerscope.tui.widgets.ordered_input import OrderedInput


class ReportPrompt(ModalScreen[list[Path] | None]):
    """One labelled path input per field, prefilled; Escape cancels."""

    DEFAULT_CSS = """
    ReportPrompt {
        align: center middle;
    }
    ReportPrompt > Vertical {
        width: 90;
        max-width: 95%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    ReportPrompt Label {
        width: 100%;
    }
    ReportPrompt Input {
        border: round $secondary;
    }
    ReportPrompt #prompt-hint {
        color: $text-muted;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="report.cancel")]

    def __init__(
        self,
        title: str,
        fields: list[tuple[str, Path]],
        *,
        must_exist: bool = True,
        protect: Sequence[Path] = (),
    ) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields
        self.must_exist = must_exist  # reports to read; a report to write may be new
        self.protect = list(protect)  # never written over (the model the report is about)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            for i, (label, default) in enumerate(self.fields):
                start = str(default) + ("/" if default.is_dir() else "")
                field = OrderedInput(start, placeholder="path of a .json report", id=f"path-{i}")
                field.border_title = label
                yield field
            yield Label("Enter: next / accept · Escape: cancel", id="prompt-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if not event.value.strip():
            self.notify("Type a path first.", severity="warning")
            return
        path = Path(event.value.strip()).expanduser()
        if self.must_exist and not path.is_file():  # say so here, where the typo can be fixed
            self.notify(
                f"No report at {path}: type the path of a .json report.", severity="warning"
            )
            return
        if not self.must_exist and path.is_dir():
            self.notify(f"{path} is a folder: add a file name ending in .json.", severity="warning")
            return
        if not self.must_exist:
            # The engine writer's own question, asked here: a refusal (the model itself, a file
            # layerscope did not write) shows where the name can be changed.
            from layerscope.engine.errors import LayerscopeError
            from layerscope.engine.io import check_user_target

            try:
                check_user_target(path, protect=self.protect, force_hint=None)
            except LayerscopeError as exc:
                self.notify(exc.message, title=exc.title, severity="warning")
                return
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
            return
        self.dismiss([Path(i.value.strip()).expanduser() for i in inputs])

    def action_cancel(self) -> None:
        self.dismiss(None)
