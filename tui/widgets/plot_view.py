"""The plot inside the histogram: textual-plotext's widget, with finished drawings cached.

Building a plotext figure takes tens of milliseconds; going back to a tensor already seen reuses
its drawing (same statistics object, same options, same size), so re-selecting is instant.
This module imports plotext, so ``Histogram`` imports it only after the first frame.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from textual.app import RenderResult
from textual_plotext import PlotextPlot

from layerscope.engine.formatting import count_ticks

CACHED_DRAWINGS = 32


class PlotView(PlotextPlot):
    """A ``PlotextPlot`` whose owner names each drawing with ``drawing_key``."""

    DEFAULT_CSS = """
    PlotView {
        width: 1fr;
        height: 1fr;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.drawing_key: Any = None  # set by the owner together with the plt calls
        self.drawing_of: Any = None  # the object drawn; kept alive so its id() stays unique
        self._drawings: OrderedDict[Any, tuple[RenderResult, Any]] = OrderedDict()
        # A count axis up to this: its whole-number ticks are chosen for the height the plot has
        # when it is drawn (an owner's resize can come before this widget's own).
        self.count_top: float | None = None
        self._draw: Callable[[], None] | None = None  # see set_draw
        self._drawn = False  # the plt calls of _draw are made

    def set_draw(self, draw: Callable[[], None] | None) -> None:
        """``draw`` makes the plt calls of the drawing named ``drawing_key``; they are made
        only when that drawing is not cached (a re-selected tensor skips them)."""
        self._draw, self._drawn = draw, False

    def make_pending_drawing(self) -> None:
        """Make the plt calls ``set_draw`` deferred, if they are not made yet."""
        if self._draw is not None and not self._drawn:
            self._drawn = True
            self.plt.clear_data()
            self.plt.clear_figure()
            self._draw()

    def render(self) -> RenderResult:
        if self.drawing_key is None:
            return super().render()
        key = (self.drawing_key, self.size, self.app.theme)
        if key in self._drawings:
            self._drawings.move_to_end(key)
            return self._drawings[key][0]
        self.make_pending_drawing()
        if self.count_top is not None:
            self.plt.yticks(*count_ticks(self.count_top, max(1, (self.size.height - 5) // 2)))
        drawing = super().render()
        self._drawings[key] = (drawing, self.drawing_of)
        if len(self._drawings) > CACHED_DRAWINGS:
            self._drawings.popitem(last=False)
        return drawing
