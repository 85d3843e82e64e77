"""What the comparison runs on: the input spec (n) and the SQNR threshold (h), editable in place."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label

from layerscope.tui.widgets.ordered_input import OrderedInput


class QuantInputs(Horizontal):
    """``inputs [spec]  threshold [20] dB``; Enter in either field compares again (the screen
    does), Escape puts the field back. What the engine made of the spec (``about``) is shown in
    the summary above, where it can wrap, not beside the fields, where 80 columns cut it."""

    DEFAULT_CSS = """
    QuantInputs {
        height: 1;
        padding: 0 1;
    }
    QuantInputs > Label {
        width: auto;
        color: $text-muted;
        padding: 0 1 0 0;
    }
    QuantInputs > Input {
        border: none;
        height: 1;
        width: 22;
        padding: 0;
        margin: 0 1 0 0;
    }
    QuantInputs > #quant-threshold {
        width: 5;
        margin: 0;
    }
    QuantInputs > Input:focus {
        border: none;  /* Input's focus style adds a tall border, which one row cannot hold */
        background: $boost;
    }
    """

    def __init__(self, spec: str, threshold_db: float, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec = spec
        self.threshold_db = threshold_db
        self.about = ""

    def compose(self) -> ComposeResult:
        yield Label("inputs")
        yield OrderedInput(
            self.spec,
            placeholder="random | digits:0-31 | cifar10:0-63 | image.png | array.npy",
            tooltip="Enter compares again on these inputs",
            id="quant-spec",
        )
        yield Label("threshold")
        yield OrderedInput(
            f"{self.threshold_db:g}",
            type="number",
            tooltip="Flag layers below this SQNR (dB); Enter compares again",
            id="quant-threshold",
        )
        yield Label("dB")

    @property
    def input(self) -> Input:
        """The input-spec field."""
        return self.query_one("#quant-spec", Input)

    @property
    def threshold(self) -> Input:
        """The threshold field (dB)."""
        return self.query_one("#quant-threshold", Input)

    def reset(self, spec: str, threshold_db: float) -> None:
        """Put both fields back to what the shown comparison used."""
        self.input.value = spec
        self.threshold.value = f"{threshold_db:g}"

    def describe(self, text: str) -> None:
        """Keep what the engine made of the spec (``InputBatch.description``)."""
        self.about = text
