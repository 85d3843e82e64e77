"""One metric of several runs against the epoch, a braille line and a colour per run.

The runs compare view has two: the loss and the task's metric. The legend (which colour is which
run) is the screen's, shared by both plots; each plot's border names its metric. Like
``RunCurves``, the plotext widget is mounted after the first frame.
"""

from __future__ import annotations

from rich.text import Text

from layerscope.tui.widgets.lazy_plot import LazyPlotBox

# One colour per run, in the order the runs are compared (then again from the first).
RUN_COLOURS = (
    (70, 130, 180),
    (255, 165, 0),
    (46, 139, 87),
    (220, 20, 60),
    (147, 112, 219),
    (0, 206, 209),
    (218, 165, 32),
    (199, 21, 133),
)


def run_colour(i: int) -> tuple[int, int, int]:
    return RUN_COLOURS[i % len(RUN_COLOURS)]


def legend(labels: list[str]) -> Text:
    """``━ sgd  ━ adam  ━ adamw``, each dash in its run's colour."""
    text = Text()
    for i, label in enumerate(labels):
        r, g, b = run_colour(i)
        text.append("━ ", f"bold rgb({r},{g},{b})")
        text.append(label + "  ")
    return text


Series = list[tuple[int, float]]  # (epoch from 1, value)


class CompareCurves(LazyPlotBox):
    """``metric`` of each run, overlaid; a hint when no run has it."""

    DEFAULT_CSS = """
    CompareCurves {
        width: 1fr;
        height: 1fr;
        min-height: 6;
        border: round $panel;
        border-title-color: $text;
    }
    CompareCurves > PlotView {
        display: none;
    }
    CompareCurves.-plotted > PlotView {
        display: block;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.metric: str | None = None
        self.series: list[tuple[str, Series]] = []  # (run label, points), the runs' order
        self.colours: list[tuple[int, int, int]] = []
        self.hint = "Reading the runs…"

    def show(self, metric: str | None, series: list[tuple[str, Series]], hint: str = "") -> None:
        """Plot ``series`` (one per run, colours by position; a run without points keeps its
        colour and draws nothing); ``hint`` when there is nothing to plot."""
        self.metric = metric
        self.series = list(series)
        self.colours = [run_colour(i) for i in range(len(series))]
        self.border_title = metric or ""
        plotted = metric is not None and any(points for _, points in series)
        self.hint = hint or f"No epoch has {metric or 'a metric'} yet."
        plot = self.start_drawing(plotted, (metric, tuple((n, tuple(p)) for n, p in series)))
        if plot is None:
            return
        plt = plot.plt
        epochs = sorted({x for _, points in series for x, _ in points})
        values = [y for _, points in series for _, y in points]
        for (_, points), colour in zip(series, self.colours, strict=True):
            if points:
                xs, ys = zip(*points, strict=True)
                plt.plot(xs, ys, color=colour, marker="braille")
        if len(epochs) <= 10:  # whole epochs only; plotext picks ticks for longer runs
            plt.xticks(epochs)
        plt.xlim(min(epochs) - 0.2, max(epochs) + 0.2)
        low, high = min(values), max(values)
        if "loss" in (metric or "") and low >= 0:
            low = 0.0  # from 0: a loss curve's scale is honest
        pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
        plt.ylim(low if low == 0 else low - pad, high + pad)
        plt.xlabel("epoch")
        plot.refresh()
