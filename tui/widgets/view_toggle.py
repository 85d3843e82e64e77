"""The int/float toggle: shown only for quantized tensors."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Switch

from layerscope.tui.messages import ViewChanged


class ViewToggle(Horizontal):
    """``float ◯ int``: dequantized values or the stored integers."""

    DEFAULT_CSS = """
    ViewToggle {
        display: none;
        width: auto;
        height: 3;
    }
    ViewToggle.-shown {
        display: block;
    }
    ViewToggle Label {
        padding: 1 0;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = "float"

    def compose(self) -> ComposeResult:
        yield Label("float")
        yield Switch(
            value=False, id="view-switch", tooltip="i: integer values / dequantized floats"
        )
        yield Label("int")

    def show(self, visible: bool) -> None:
        self.set_class(visible, "-shown")

    def toggle(self) -> None:
        switch = self.query_one(Switch)
        switch.value = not switch.value

    def set_view(self, view: str) -> None:
        """Set the switch without announcing it (used when a new tensor resets the view)."""
        self.view = view
        with self.query_one(Switch).prevent(Switch.Changed):
            self.query_one(Switch).value = view == "int"

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        self.view = "int" if event.value else "float"
        self.post_message(ViewChanged(self.view))
