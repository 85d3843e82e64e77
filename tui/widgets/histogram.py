"""The histogram: a tensor's value distribution, with the bins inside a value range highlighted.

Plotting is textual-plotext's ``PlotextPlot`` (as ``PlotView``), mounted inside this widget only
after the first frame: importing plotext costs about 0.1 s that the start-up should not pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.align import Align
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.widget import MountError, Widget
from textual.widgets import LoadingIndicator

from layerscope.engine.formatting import tick_labels

if TYPE_CHECKING:
    from textual_plotext.plot import Plot

    from layerscope.engine.stats import TensorStats
    from layerscope.tui.widgets.plot_view import PlotView

STEEL_BLUE = (70, 130, 180)  # weights
SEA_GREEN = (46, 139, 87)  # every other tensor role (bias, running stats, ...)
DARK_ORANGE = (255, 140, 0)  # captured activations
ORCHID = (218, 112, 214)  # captured gradients
HIGHLIGHT = (255, 191, 0)  # bins inside the value range
TICKS = 5


class Histogram(Widget):
    """Bars of ``TensorStats.counts`` over ``edges``; the engine does the counting."""

    DEFAULT_CSS = """
    Histogram {
        height: 1fr;
        min-height: 8;
    }
    Histogram > PlotView, Histogram > LoadingIndicator {
        display: none;
    }
    Histogram.-plotted > PlotView, Histogram.-busy > LoadingIndicator {
        display: block;
    }
    Histogram.-busy > PlotView {
        display: none;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.stats: TensorStats | None = None
        self.hint = "Pick a model (Enter), then a layer: its weights are plotted here."
        self._args: dict[str, Any] = {}
        self._plot: PlotView | None = None

    def compose(self) -> ComposeResult:
        yield LoadingIndicator()

    @property
    def busy(self) -> bool:
        """Whether the spinner covers the plot (a class, not ``loading``: toggling that quickly
        can leave an indicator behind)."""
        return self.has_class("-busy")

    @busy.setter
    def busy(self, value: bool) -> None:
        self.set_class(value, "-busy")

    def on_mount(self) -> None:
        self.call_after_refresh(self._prepare_plot)

    def _prepare_plot(self) -> None:
        try:
            self._ensure_plot()
        except MountError:  # the app is already on its way out (quit during the first frame)
            pass

    def _ensure_plot(self) -> PlotView:
        if self._plot is None:
            from layerscope.tui.widgets.plot_view import (
                PlotView,  # plotext loads here, after the first frame
            )

            self._plot = PlotView()
            self.mount(self._plot)
        return self._plot

    @property
    def plt(self) -> Plot:
        """The plotext API of the plot (as ``textual_plotext.PlotextPlot.plt``), holding the
        drawing last shown (its plt calls are otherwise made only when it is rendered)."""
        plot = self._ensure_plot()
        plot.make_pending_drawing()
        return plot.plt

    def show(
        self,
        stats: TensorStats | None,
        *,
        role: str = "weight",
        view: str = "float",
        qdtype: str = "",
        low: float | None = None,
        high: float | None = None,
    ) -> None:
        """Draw ``stats`` (or the hint when ``None``); highlight bins overlapping [low, high]."""
        self.stats = stats
        self._args = dict(role=role, view=view, qdtype=qdtype, low=low, high=high)
        self.set_class(stats is not None and bool(stats.counts), "-plotted")
        plot = self._ensure_plot()
        plot.drawing_key = (id(stats), tuple(sorted(self._args.items())))
        plot.drawing_of = stats
        plot.count_top = None
        if stats is None or not stats.counts:
            plot.set_draw(None)
            plot.plt.clear_data()
            plot.plt.clear_figure()
            self.refresh()
            return
        # Drawn when the plot renders and has no cached drawing of this (a re-select has one).
        plot.set_draw(lambda: self._draw(plot, stats, role, view, low, high, qdtype))
        plot.refresh()

    def _draw(
        self,
        plot: PlotView,
        stats: TensorStats,
        role: str,
        view: str,
        low: float | None,
        high: float | None,
        qdtype: str,
    ) -> None:
        plt = plot.plt
        edges, counts = stats.edges, stats.counts
        centers = [(edges[i] + edges[i + 1]) / 2 for i in range(len(counts))]
        inside = [
            low is not None and high is not None and edges[i] <= high and edges[i + 1] >= low
            for i in range(len(counts))
        ]
        color = STEEL_BLUE if role.startswith("weight") else SEA_GREEN
        if role == "activation":
            color = DARK_ORANGE
        elif role == "gradient":
            color = ORCHID
        out_x = [c for c, hit in zip(centers, inside, strict=True) if not hit]
        out_y = [n for n, hit in zip(counts, inside, strict=True) if not hit]
        in_x = [c for c, hit in zip(centers, inside, strict=True) if hit]
        in_y = [n for n, hit in zip(counts, inside, strict=True) if hit]
        width = 0.9 if len(counts) <= 64 else 1.0
        if out_x:
            plt.bar(out_x, out_y, color=color, width=width, label="values" if in_x else None)
        if in_x:
            plt.bar(in_x, in_y, color=HIGHLIGHT, width=width, label="in range")
        title = f"{(role or 'tensor').rstrip(chr(39)).replace('_', ' ').title()} Distribution"
        if view == "int":
            title += f" ({qdtype} values)"
        plt.title(title)
        n_ticks = max(2, min(TICKS, self.size.width // 14))  # labels must not collide
        step = (edges[-1] - edges[0]) / (n_ticks - 1)
        ticks = [edges[0] + i * step for i in range(n_ticks)]
        plt.xticks(ticks, tick_labels(ticks, step))
        plt.xlim(edges[0], edges[-1])
        top = max(max(counts), 1) * 1.05
        plt.ylim(0, top)
        plot.count_top = top  # whole-number ticks, chosen at draw time for the plot's height

    def on_resize(self) -> None:
        if self.stats is not None:  # tick count follows the width
            self.show(self.stats, **self._args)

    def render(self) -> RenderResult:
        return Align.center(Text(self.hint, "dim italic"), vertical="middle")
