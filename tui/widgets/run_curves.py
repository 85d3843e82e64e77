"""Loss and accuracy per finished epoch: a small plot beside the run's status.

A run that logs no ``val_acc`` (a regression, a user's own script) plots its training and
validation loss and its first other validation metric (``val_mae``, ``val_psnr``...) instead,
that metric on the right axis at its own scale.

Like the histogram, the plotext widget is mounted after the first frame (plotext costs ~0.1 s
to import); until a run has finished an epoch the box says what will appear.
"""

from __future__ import annotations

from typing import Any

from layerscope.tui.widgets.lazy_plot import LazyPlotBox

# (metric, label, colour, y side): loss on the left axis, accuracy (0..1) on the right.
SERIES = (
    ("train_loss", "train loss", (70, 130, 180), "left"),
    ("val_loss", "val loss", (255, 165, 0), "left"),
    ("val_acc", "val acc (right)", (46, 139, 87), "right"),
)
COLOURS = tuple(colour for _, _, colour, _ in SERIES)
NOT_PLOTTED = ("epoch", "step", "lr")


def series_for(history: list[dict[str, Any]]) -> tuple[tuple[str, str, Any, str], ...]:
    """What to plot: ``SERIES`` for a run with ``val_acc``; else its train loss (``train_loss``
    or Lightning's ``train_loss_epoch``), ``val_loss`` and its first other validation metric."""
    keys = list(dict.fromkeys(k for h in history for k in h))
    if not history or "val_acc" in keys:
        return SERIES
    train = next((k for k in ("train_loss", "train_loss_epoch") if k in keys), None)
    metric = next(
        (k for k in keys if k.startswith("val_") and "loss" not in k and not k.endswith("_step")),
        None,
    )
    out = []
    for name, label, colour, side in (
        (train, "train loss", COLOURS[0], "left"),
        ("val_loss" if "val_loss" in keys else None, "val loss", COLOURS[1], "left"),
        (metric, f"{(metric or '').replace('_', ' ')} (right)", COLOURS[2], "right"),
    ):
        if name is not None:
            out.append((name, label, colour, side))
    return tuple(out)


def _legend(series: tuple[tuple[str, str, Any, str], ...]) -> str:
    return " ".join(f"[rgb({r},{g},{b})]━[/] {label}" for _, label, (r, g, b), _ in series)


class RunCurves(LazyPlotBox):
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
        self.border_title = _legend(SERIES)
        # (metric, label, colour, y side) of each line drawn: SERIES, or a regression's
        self.plotted: tuple[tuple[str, str, Any, str], ...] = SERIES
        self.history: list[dict[str, Any]] = []
        self.hint = "Curves appear here as epochs finish."

    def show(self, history: list[dict[str, Any]], *, key: object = None) -> None:
        """Plot one point per entry of ``history`` (``{"epoch": n, metric: value, ...}``)."""
        self.history = list(history)
        self.plotted = series_for(self.history)
        self.border_title = _legend(self.plotted)
        plot = self.start_drawing(bool(history), (key, len(history)))
        if plot is None:
            return
        plt = plot.plt
        epochs = [h["epoch"] + 1 for h in history]  # people count epochs from 1
        for metric, _, color, side in self.plotted:
            points = [(x, h[metric]) for x, h in zip(epochs, history, strict=True) if metric in h]
            if points:
                xs, ys = zip(*points, strict=True)
                plt.plot(xs, ys, color=color, yside=side, marker="braille")
        if len(epochs) <= 10:  # whole epochs only; plotext picks ticks for longer runs
            plt.xticks(epochs)
        plt.xlim(min(epochs) - 0.2, max(epochs) + 0.2)
        left = [m for m, _, _, side in self.plotted if side == "left"]
        losses = [h[m] for h in history for m in left if h.get(m) is not None]
        plt.ylim(0, max(losses, default=1.0) * 1.05)  # from 0: a loss curve's scale is honest
        plt.ylabel("loss")
        right = next((m for m, _, _, side in self.plotted if side == "right"), None)
        if right == "val_acc":
            plt.ylim(0, 1, yside="right")
            plt.ylabel("accuracy", yside="right")
        elif right is not None:  # a regression metric: its own range
            values = [h[right] for h in history if isinstance(h.get(right), int | float)]
            low, high = min(values, default=0.0), max(values, default=1.0)
            pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
            plt.ylim(low - pad, high + pad, yside="right")
            plt.ylabel(right, yside="right")
        plt.xlabel("epoch")
        plot.refresh()
