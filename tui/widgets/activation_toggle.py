"""The Weights | Activations | Gradients toggle: shown once a capture exists, for the selected
layer; the Gradients side only after a capture with a gradient target."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget

from layerscope.tui.messages import ActivationViewChanged


class ActivationToggle(Widget):
    """``Weights │ Activations │ Gradients`` with the shown side highlighted; click or ``a`` moves
    to the next side (``activations`` is true for both captured sides, ``gradients`` for the last)."""

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
    gradients: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tooltip = "a: the selected layer's weights, its captured activation or gradients"
        self.offers_gradients = False  # the capture ran backward for a target

    def show(self, visible: bool) -> None:
        self.set_class(visible, "-shown")

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")

    def offer_gradients(self, offered: bool) -> None:
        """Whether the capture has gradients (a third side); leaving it shows activations."""
        self.offers_gradients = offered
        if not offered and self.gradients:
            self.gradients = False
        self.refresh(layout=True)

    def toggle(self) -> None:
        """Weights → Activations → Gradients (when offered) → Weights."""
        if self.activations and not self.gradients and self.offers_gradients:
            self.set_gradients()
        else:
            self.set(not self.activations)

    def set(self, activations: bool, *, announce: bool = True) -> None:
        """Show weights (``False``) or activations; ``announce`` tells the screen."""
        if activations != self.activations or self.gradients:
            self.activations, self.gradients = activations, False
            if announce:
                self.post_message(ActivationViewChanged(activations))

    def set_gradients(self, *, announce: bool = True) -> None:
        """Show the captured gradients (when the capture has them)."""
        if self.offers_gradients and not self.gradients:
            self.activations, self.gradients = True, True
            if announce:
                self.post_message(ActivationViewChanged(True, gradients=True))

    def on_click(self, event: events.Click) -> None:
        self.toggle()

    def render(self) -> RenderResult:
        on, off = "bold reverse", "dim"
        acts = self.activations and not self.gradients
        # Three sides in full do not fit beside the input controls below 110 columns.
        short = self.offers_gradients and self.app.size.width < 110
        text = Text.assemble(
            (" Wts " if short else " Weights ", off if self.activations else on),
            "│",
            (" Acts " if short else " Activations ", on if acts else off),
        )
        if self.offers_gradients:
            text.append("│")
            text.append(" Grads " if short else " Gradients ", on if self.gradients else off)
        return text
