"""Loss and accuracy per finished epoch: a small plot beside the run's status.

Like the histogram, the plotext widget is mounted after the first frame (plotext costs ~0.1 s
to import); until a run has finished an epoch the box says what will appear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.align import Align
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

if TYPE_CHECKING:
    from tui.widgets.plot_view import PlotView

# (metric, label, colour, y side): loss on the left axis, accuracy (0..1) on the right.
SERIES = (
    ("train_loss", "train loss", (70, 130, 180), "left"),
    ("val_loss", "val loss", (255, 165, 0), "left"),
    ("val_acc", "val acc (right)", (46, 139, 87), "right"),
)


class RunCurves(Widget):
    """Train/val loss and validation accuracy against the epoch."""

    DEFAULT_CSS = """
    RunCurves {
        height: 1fr;
        min-height: 6;
    }
    RunCurves > PlotView {
        display: none;
    }
    RunCurves.-plotted > PlotView {
        display: block;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # The legend lives in the border (plotext's would sit on the lines, top left).
        self.border_title = " ".join(
            f"[rgb({r},{g},{b})]━[/] {label}" for _, label, (r, g, b), _ in SERIES
        )
        self.history: list[dict[str, Any]] = []
        self.hint = "Curves appear here as epochs finish."
        self._plot: PlotView | None = None

    def on_mount(self) -> None:
        self.call_after_refresh(self._ensure_plot)

    def _ensure_plot(self) -> PlotView:
        if self._plot is None:
            from tui.widgets.plot_view import PlotView  # plotext loads here, after the first frame

            self._plot = PlotView()
            self.mount(self._plot)
        return self._plot

    def show(self, history: list[dict[str, Any]], *, key: object = None) -> None:
        """Plot one point per entry of ``history`` (``{"epoch": n, metric: value, ...}``)."""
        self.history = list(history)
        self.set_class(bool(history), "-plotted")
        plot = self._ensure_plot()
        plot.drawing_key = (key, len(history))
        plot.drawing_of = None
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        if not history:
            self.refresh()
            return
        epochs = [h["epoch"] + 1 for h in history]  # people count epochs from 1
        for metric, _, color, side in SERIES:
            points = [(x, h[metric]) for x, h in zip(epochs, history, strict=True) if metric in h]
            if points:
                xs, ys = zip(*points, strict=True)
                plt.plot(xs, ys, color=color, yside=side, marker="braille")
        if len(epochs) <= 10:  # whole epochs only; plotext picks ticks for longer runs
            plt.xticks(epochs)
        plt.xlim(min(epochs) - 0.2, max(epochs) + 0.2)
        losses = [h[m] for h in history for m, *_ in SERIES[:2] if h.get(m) is not None]
        plt.ylim(0, max(losses, default=1.0) * 1.05)  # from 0: a loss curve's scale is honest
        plt.ylim(0, 1, yside="right")
        plt.ylabel("loss")
        plt.ylabel("accuracy", yside="right")
        plt.xlabel("epoch")
        plot.refresh()

    def render(self) -> RenderResult:
        return Align.center(Text(self.hint, "dim italic"), vertical="middle")
