"""The tensor view: histogram, statistics, quantization facts and the controls that shape them.

It only presents: the screen asks the engine (in a worker) and hands the answer to ``show``.
Later views of the same layer (activations, quantized-vs-float) slot in here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.timer import Timer

from layerscope.tui.widgets.bins_input import BinsInput
from layerscope.tui.widgets.histogram import Histogram
from layerscope.tui.widgets.quant_panel import QuantPanel
from layerscope.tui.widgets.range_inputs import RangeInputs
from layerscope.tui.widgets.stats_panel import StatsPanel
from layerscope.tui.widgets.view_toggle import ViewToggle

if TYPE_CHECKING:
    from layerscope.engine.model import TensorRef
    from layerscope.engine.usecases.activations import ActivationAnswer
    from layerscope.tui.messages import StatsReady

SPINNER_DELAY = 0.15  # s; cached statistics come back sooner and should not flash a spinner


class TensorView(Vertical):
    """Shows one tensor view; a spinner covers the histogram while a slow answer is awaited."""

    DEFAULT_CSS = """
    TensorView {
        width: 1fr;
    }
    TensorView > #facts {
        layout: horizontal;
        height: auto;
        max-height: 14;
    }
    TensorView > #controls {
        height: 3;
        dock: bottom;  /* always on screen: b and r focus these, even at 24 rows with the log */
    }
    """

    def __init__(self, bins: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.bins = bins
        self._spinner: Timer | None = None
        self._waiting = False

    def compose(self) -> ComposeResult:
        yield Histogram(id="histogram")
        with ScrollableContainer(id="facts"):
            yield StatsPanel(id="stats")
            yield QuantPanel(id="quant")
        with Horizontal(id="controls"):
            yield BinsInput(self.bins, id="bins")
            yield RangeInputs(id="range")
            yield ViewToggle(id="view")

    @property
    def histogram(self) -> Histogram:
        return self.query_one(Histogram)

    @property
    def busy(self) -> bool:
        """Whether the spinner is up (an answer is taking a while)."""
        return self.histogram.busy

    def expect(self, ref: TensorRef | None) -> None:
        """A new tensor is on its way: offer the int/float toggle if it is quantized."""
        self.query_one(ViewToggle).show(ref is not None and ref.quant is not None)
        self._waiting = ref is not None
        if self._waiting and self._spinner is None:
            self._spinner = self.set_timer(SPINNER_DELAY, self._spin)

    def _spin(self) -> None:
        self._spinner = None
        # A timer event already queued still arrives after stop(): only spin if still waiting.
        self.histogram.busy = self._waiting

    def stop_spinner(self) -> None:
        self._waiting = False
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
        self.histogram.busy = False

    def show(
        self, ref: TensorRef | None, ready: StatsReady | None, low: float | None, high: float | None
    ) -> None:
        """Draw the engine's answer for ``ref`` (``None``: nothing selected)."""
        self.stop_spinner()
        stats = ready.stats if ready is not None else None
        view = ready.view if ready is not None else "float"
        qdtype = ref.quant.qdtype if ref is not None and ref.quant is not None else ""
        role = ref.role if ref is not None else "weight"
        self.histogram.show(stats, role=role, view=view, qdtype=qdtype, low=low, high=high)
        in_range = ready.in_range if ready is not None else None
        self.query_one(StatsPanel).show(ref, stats, in_range=in_range, low=low, high=high)
        quant = ready.quant if ready is not None else {}
        self.query_one(QuantPanel).show(ref if stats is not None else None, quant)

    def show_activation(
        self, ready: ActivationAnswer, low: float | None, high: float | None
    ) -> None:
        """Draw a captured activation (dark orange, "Activation Statistics") or gradient
        (orchid, "Gradient Statistics": same bins, range and figures)."""
        self.stop_spinner()
        grad = ready.view == "grad"
        self.query_one(ViewToggle).show(ready.has_int and not grad)  # a quantized activation
        role = "gradient" if grad else "activation"
        self.histogram.show(
            ready.stats, role=role, view=ready.view, qdtype=ready.qdtype, low=low, high=high
        )
        self.query_one(StatsPanel).show(
            None, ready.stats, in_range=ready.in_range, low=low, high=high, name=ready.name,
            title=f"{role.title()} Statistics",
        )  # fmt: skip
        self.query_one(QuantPanel).show(None, {})
