"""The inputs the comparison runs both models on: an input spec, editable in place (n)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label


class QuantInputs(Horizontal):
    """``inputs [spec]``: Enter re-runs the comparison on the new inputs (the screen does)."""

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
        width: 24;
        padding: 0;
    }
    QuantInputs > #quant-inputs-about {
        width: 1fr;
        color: $text-muted;
        padding: 0 0 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    QuantInputs > Input:focus {
        border: none;  /* Input's focus style adds a tall border, which one row cannot hold */
        background: $boost;
    }
    """

    def __init__(self, spec: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec = spec

    def compose(self) -> ComposeResult:
        yield Label("inputs")
        yield Input(
            self.spec,
            placeholder="random | digits:0-31 | cifar10:0-63 | image.png | array.npy",
            tooltip="Enter compares again on these inputs",
        )
        yield Label("", id="quant-inputs-about")

    def describe(self, text: str) -> None:
        """What the engine made of the spec (``InputBatch.description``)."""
        self.query_one("#quant-inputs-about", Label).update(text)

    @property
    def input(self) -> Input:
        return self.query_one(Input)
