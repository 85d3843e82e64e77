"""A box holding one plotext plot, mounted after the first frame (plotext costs ~0.1 s to
import); while there is nothing to plot the box shows its ``hint`` instead.

The plotted widgets (``RunCurves``, ``CompareCurves``) add a ``-plotted`` class rule that
shows the ``PlotView`` and hides the hint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.align import Align
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

if TYPE_CHECKING:
    from layerscope.tui.widgets.plot_view import PlotView


class LazyPlotBox(Widget):
    """A hint, or a ``PlotView`` once something is plotted (see ``start_drawing``)."""

    hint = ""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._plot: PlotView | None = None

    def on_mount(self) -> None:
        self.call_after_refresh(self._ensure_plot)

    def _ensure_plot(self) -> PlotView:
        if self._plot is None:
            from layerscope.tui.widgets.plot_view import (
                PlotView,  # plotext loads here, after the first frame
            )

            self._plot = PlotView()
            self.mount(self._plot)
        return self._plot

    def start_drawing(self, plotted: bool, key: object) -> PlotView | None:
        """Clear the plot for a drawing named ``key``; ``None`` (and the hint shown) when there
        is nothing to plot, else the plot to draw on with ``plot.plt`` and then refresh."""
        self.set_class(plotted, "-plotted")
        plot = self._ensure_plot()
        plot.drawing_key = key
        plot.drawing_of = None
        plot.plt.clear_data()
        plot.plt.clear_figure()
        if not plotted:
            self.refresh()
            return None
        return plot

    def render(self) -> RenderResult:
        return Align.center(Text(self.hint, "dim italic"), vertical="middle")
