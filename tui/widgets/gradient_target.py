"""The capture bar's gradient target: empty captures activations only; a target (``predicted``,
``label``, a class index or a ``.npy`` path) also runs backward and offers the Gradients side."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label

from layerscope.tui.widgets.ordered_input import OrderedInput

TIP = (
    "Also capture every output's and parameter's gradient of the loss for this target: "
    "predicted (the model's own class), label (the dataset's), a class index, or a .npy of "
    "class indices or target values (MSE). Empty: activations only."
)


class GradientTarget(Horizontal):
    """``Gradients of [predicted]``: shown for models that run in torch (backward needs it)."""

    DEFAULT_CSS = """
    GradientTarget {
        height: 1;
        display: none;
    }
    GradientTarget.-shown {
        display: block;
    }
    GradientTarget Label {
        color: $text-muted;
        margin: 0 1 0 0;
    }
    GradientTarget Input {
        width: 1fr;
        max-width: 40;
    }
    """

    def compose(self) -> ComposeResult:
        yield Label("Gradients of", id="grad-label")
        yield OrderedInput(
            "", placeholder="off · predicted · label · class · t.npy", compact=True,
            id="grad-target", tooltip=TIP,
        )  # fmt: skip

    @property
    def field(self) -> Input:
        return self.query_one("#grad-target", Input)

    @property
    def spec(self) -> str | None:
        """The target as typed, or ``None`` (no gradients) when empty or hidden."""
        text = self.field.value.strip()
        return text if text and self.has_class("-shown") else None

    def offer(self, torch_model: bool) -> None:
        """Shown only where backward can run (torch models)."""
        self.set_class(torch_model, "-shown")
