"""The Weights | Activations toggle: shown once a capture exists, for the selected layer."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

from tui.messages import ActivationViewChanged


class ActivationToggle(Widget):
    """``Weights │ Activations`` with the shown side highlighted; click or ``a`` flips it."""

    DEFAULT_CSS = """
    ActivationToggle {
        display: none;
        width: auto;
        height: 1;
        margin: 0 0 0 2;
    }
    ActivationToggle.-shown {
        display: block;
    }
    """

    activations: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tooltip = "a: the selected layer's weights or its captured activation"

    def show(self, visible: bool) -> None:
        self.set_class(visible, "-shown")

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")

    def toggle(self) -> None:
        self.set(not self.activations)

    def set(self, activations: bool, *, announce: bool = True) -> None:
        """Show weights (``False``) or activations; ``announce`` tells the screen."""
        if activations != self.activations:
            self.activations = activations
            if announce:
                self.post_message(ActivationViewChanged(activations))

    def on_click(self, event: events.Click) -> None:
        self.toggle()

    def render(self) -> RenderResult:
        on, off = "bold reverse", "dim"
        return Text.assemble(
            (" Weights ", off if self.activations else on),
            "│",
            (" Activations ", on if self.activations else off),
        )
