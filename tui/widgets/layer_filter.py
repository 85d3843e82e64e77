"""The ``/`` filter above the layer tree: narrows the tree by name as the user types."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

from layerscope.tui.messages import FilterChanged
from layerscope.tui.widgets.ordered_input import OrderedInput


class LayerFilter(OrderedInput):
    """A one-line filter; Escape clears and hides it, Enter returns to the tree.

    Leaving it (either key) posts ``FilterChanged(done=True)``: only then does the screen show
    the layer under the tree's cursor, so typing never swaps the histogram under the user.
    """

    DEFAULT_CSS = """
    LayerFilter {
        display: none;
        border: round $accent;
        height: 3;
    }
    LayerFilter.-active {
        display: block;
    }
    """
    BINDINGS = [
        Binding("escape", "close", "Close filter", id="filter.close"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter layers by name", id=id)
        self.border_title = "Filter"

    def open(self) -> None:
        self.add_class("-active")
        self.screen.set_focus(self)  # now: the rest of a key burst is the filter's

    def action_close(self) -> None:
        """Clear the filter and give the keyboard back to the tree."""
        self.value = ""
        self.screen.focus_next()  # while still shown: from a hidden widget it skips the tree
        self.remove_class("-active")
        self.post_message(FilterChanged("", done=True))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(FilterChanged(event.value.strip()))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.focus_next()
        if not self.value:
            self.remove_class("-active")
        self.post_message(FilterChanged(self.value.strip(), done=True))
