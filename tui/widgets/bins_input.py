"""The bins control: how many histogram bins (applied on Enter or when focus leaves)."""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.validation import Integer
from textual.widgets import Input

from layerscope.tui.messages import BinsChanged
from layerscope.tui.widgets.ordered_input import OrderedInput

MIN_BINS, MAX_BINS = 1, 1000
STEPS = (5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)


class BinsInput(OrderedInput):
    """An integer input; ``step(+1/-1)`` walks a ladder of common bin counts.

    Escape drops the edit and hands the keyboard back, as Enter does (else the next keys the
    user meant for the tree would be typed here).
    """

    BINDINGS = [Binding("escape", "leave", "Back", id="histogram.bins_leave")]

    DEFAULT_CSS = """
    BinsInput {
        width: 12;
        border: round $secondary;
    }
    """

    def __init__(self, bins: int, *, id: str | None = None) -> None:
        super().__init__(
            str(bins),
            type="integer",
            validators=[Integer(minimum=MIN_BINS, maximum=MAX_BINS)],
            validate_on=["submitted", "blur"],
            id=id,
        )
        self.border_title = "bins"
        self.bins = bins

    def _apply(self) -> None:
        result = self.validate(self.value)
        if result is not None and not result.is_valid:
            self.notify(
                f"Bins must be a whole number from {MIN_BINS} to {MAX_BINS}; got {self.value!r}.",
                severity="warning",
            )
            self.value = str(self.bins)
            return
        bins = int(self.value)
        if bins != self.bins:
            self.bins = bins
            self.post_message(BinsChanged(bins))

    def action_leave(self) -> None:
        self.value = str(self.bins)
        self.post_message(Input.Submitted(self, self.value))  # the screen returns focus

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._apply()  # the event bubbles on: the screen hands the keyboard back

    def on_blur(self, event: events.Blur) -> None:
        self._apply()

    def step(self, direction: int) -> None:
        """Next larger (``+1``) or smaller (``-1``) bin count on the ladder."""
        if direction > 0:
            bins = next((s for s in STEPS if s > self.bins), MAX_BINS)
        else:
            bins = next((s for s in reversed(STEPS) if s < self.bins), MIN_BINS)
        self.value = str(bins)
        self._apply()
