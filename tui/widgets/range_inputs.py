"""The value-range control: low and high bounds; empty bounds clear the range."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input

from layerscope.tui.messages import RangeChanged
from layerscope.tui.widgets.ordered_input import OrderedInput


class RangeInputs(Horizontal):
    """Two number inputs; Enter in either applies the range, Escape drops the edit."""

    BINDINGS = [Binding("escape", "leave", "Back", id="range.leave")]

    DEFAULT_CSS = """
    RangeInputs {
        width: auto;
        height: 3;
    }
    RangeInputs Input {
        width: 14;
        border: round $secondary;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.low: float | None = None
        self.high: float | None = None

    def compose(self) -> ComposeResult:
        # valid_empty: an empty bound means "no range", not an error (no red border after clear)
        low = OrderedInput(placeholder="low", type="number", valid_empty=True, id="range-low")
        low.border_title = "low"
        high = OrderedInput(placeholder="high", type="number", valid_empty=True, id="range-high")
        high.border_title = "high"
        yield low
        yield high

    def clear(self) -> None:
        """Empty both bounds and tell the screen."""
        self.query_one("#range-low", Input).value = ""
        self.query_one("#range-high", Input).value = ""
        self._apply()

    def reset(self) -> None:
        """Forget the range without telling the screen (it already dropped it)."""
        for name in ("low", "high"):
            self.query_one(f"#range-{name}", Input).value = ""
        self.low = self.high = None

    def action_leave(self) -> None:
        """Escape: show the range in force again and hand the keyboard back."""
        for name, value in (("low", self.low), ("high", self.high)):
            self.query_one(f"#range-{name}", Input).value = "" if value is None else f"{value:g}"
        high = self.query_one("#range-high", Input)
        self.post_message(Input.Submitted(high, high.value))  # the screen returns focus

    def set_range(self, low: float, high: float) -> None:
        self.query_one("#range-low", Input).value = f"{low:g}"
        self.query_one("#range-high", Input).value = f"{high:g}"
        self._apply()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "range-low" and not self.query_one("#range-high", Input).value:
            event.stop()
            self.query_one("#range-high", Input).focus()  # natural flow: low, Enter, high, Enter
            return
        self._apply()  # the event bubbles on: the screen hands the keyboard back

    def _apply(self) -> None:
        texts = [self.query_one(f"#range-{k}", Input).value.strip() for k in ("low", "high")]
        if not any(texts):
            low = high = None
        else:
            try:
                low, high = (float(t) for t in texts)
            except ValueError:
                self.notify(
                    "Enter both bounds of the value range, e.g. -0.1 and 0.1.", severity="warning"
                )
                return
            if low > high:
                low, high = high, low
        if (low, high) != (self.low, self.high):
            self.low, self.high = low, high
            self.post_message(RangeChanged(low, high))
