"""Float and dequantized histograms of one compared tensor, side by side or overlaid.

The engine bins both over one shared range (``layerscope.engine.usecases.quant``: ``weight_histograms``,
``activation_histograms``), so bars line up bin for bin and both plots share their axes: a
glance shows where quantization moved the values. Plotting is textual-plotext (``PlotView``):
this module is imported only when the Quantization view opens, long after the first frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.align import Align
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Static

from layerscope.engine.formatting import num, tick_labels
from layerscope.tui.widgets.plot_view import PlotView

if TYPE_CHECKING:
    from layerscope.engine.stats import TensorStats

FLOAT_COLOR = (70, 130, 180)  # steel blue, as weights in the inspector
QUANT_COLOR = (255, 140, 0)  # dark orange: the quantized side
TICKS = 5


class QuantHistograms(Widget):
    """Two plots (``side``) or one with both series (``overlay``); a hint until a row is chosen."""

    DEFAULT_CSS = """
    QuantHistograms {
        height: 1fr;
        min-height: 8;
    }
    QuantHistograms > Horizontal {
        display: none;
        height: 1fr;
    }
    QuantHistograms.-plotted > Horizontal {
        display: block;
    }
    QuantHistograms #quant-hist-caption {
        height: auto;  /* wraps at 80 columns rather than cutting the ranges off */
        max-height: 3;
        display: none;
        color: $text-muted;
    }
    QuantHistograms.-plotted #quant-hist-caption {
        display: block;
    }
    QuantHistograms.-overlay #quant-plot-q {
        display: none;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Histograms"  # the screen names the tensor shown here
        self.hint = "Comparing… the selected row's float and dequantized histograms appear here."
        self.mode = "side"
        self.stats: tuple[TensorStats, TensorStats] | None = None
        self.labels: tuple[str, str] = ("float", "dequantized")
        self.caption = ""

    def compose(self) -> ComposeResult:
        with Horizontal():
            for side in "fq":
                plot = PlotView()  # it takes no id argument; one can still be set before mount
                plot.id = f"quant-plot-{side}"
                yield plot
        yield Static(id="quant-hist-caption")

    def show_hint(self, hint: str) -> None:
        """No histograms: say why (nothing chosen, no weights on this row...)."""
        self.stats = None
        self.hint = hint
        self.remove_class("-plotted")
        self.refresh()

    def show(
        self, f: TensorStats, q: TensorStats, labels: tuple[str, str], caption: str = ""
    ) -> None:
        """Draw the float (``f``) and dequantized (``q``) histograms of the same tensor."""
        self.stats, self.labels, self.caption = (f, q), labels, caption
        self.add_class("-plotted")
        self._draw()

    def set_mode(self, mode: str) -> None:
        """``side`` (two plots) or ``overlay`` (one plot, both series)."""
        self.mode = mode
        self.set_class(mode == "overlay", "-overlay")
        if self.stats is not None:
            self._draw()

    def _draw(self) -> None:
        assert self.stats is not None
        f, q = self.stats
        plot_f = self.query_one("#quant-plot-f", PlotView)
        plot_q = self.query_one("#quant-plot-q", PlotView)
        top = max([*f.counts, *q.counts, 1]) * 1.05  # one y scale, so heights compare
        if self.mode == "overlay":
            self._plot(plot_f, [(f, self.labels[0], FLOAT_COLOR), (q, self.labels[1], QUANT_COLOR)],
                       "float vs dequantized", top)  # fmt: skip
        else:
            self._plot(plot_f, [(f, self.labels[0], FLOAT_COLOR)], self.labels[0], top)
            self._plot(plot_q, [(q, self.labels[1], QUANT_COLOR)], self.labels[1], top)
        self.query_one("#quant-hist-caption", Static).update(Text(self.caption))

    def _plot(
        self,
        plot: PlotView,
        series: list[tuple[TensorStats, str, tuple[int, int, int]]],
        title: str,
        top: float,
    ) -> None:
        plot.drawing_key = (tuple(id(s) for s, _, _ in series), title, self.mode)
        plot.drawing_of = series
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        plot.count_top = None
        edges = series[0][0].edges
        if not edges:
            plot.refresh()
            return
        overlay = len(series) > 1
        for stats, label, color in series:
            centers = [(stats.edges[i] + stats.edges[i + 1]) / 2 for i in range(len(stats.counts))]
            if overlay and color == QUANT_COLOR:
                # Bars would hide the float ones: the quantized series is a line on top.
                plt.plot(centers, stats.counts, color=color, label=label, marker="braille")
            else:
                plt.bar(centers, stats.counts, color=color, width=0.9,
                        label=label if overlay else None)  # fmt: skip
        plt.title(title)
        width = plot.size.width or self.size.width // (1 if overlay else 2)
        n_ticks = max(2, min(TICKS, width // 14))  # labels must not collide
        step = (edges[-1] - edges[0]) / (n_ticks - 1)
        ticks = [edges[0] + i * step for i in range(n_ticks)]
        plt.xticks(ticks, tick_labels(ticks, step))
        if edges[-1] > edges[0]:
            plt.xlim(edges[0], edges[-1])
        plt.ylim(0, top)
        plot.count_top = top  # whole-number ticks, chosen at draw time for the plot's height
        plot.refresh()

    def on_resize(self) -> None:
        if self.stats is not None:  # tick count follows the width
            self._draw()

    def render(self) -> RenderResult:
        return Align.center(Text(self.hint, "dim italic"), vertical="middle")


def stats_caption(f: TensorStats, q: TensorStats) -> str:
    """One line under the plots: each side's range (the engine's numbers)."""
    return (
        f"float {num(f.min, 4)} … {num(f.max, 4)}  ·  "
        f"dequantized {num(q.min, 4)} … {num(q.max, 4)}  ·  {f.numel:,} values"
    )
