"""The histogram: a tensor's value distribution, with the bins inside a value range highlighted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.align import Align
from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from tui.format import tick_labels

if TYPE_CHECKING:
    from engine.stats import TensorStats

STEEL_BLUE = (70, 130, 180)  # weights
SEA_GREEN = (46, 139, 87)  # every other tensor role (bias, running stats, ...)
HIGHLIGHT = (255, 191, 0)  # bins inside the value range
TICKS = 5


class Histogram(PlotextPlot):
    """Bars of ``TensorStats.counts`` over ``edges``; the engine does the counting."""

    DEFAULT_CSS = """
    Histogram {
        height: 1fr;
        min-height: 8;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.stats: TensorStats | None = None
        self._args: dict[str, Any] = {}
        self.hint = "Pick a model (Enter), then a layer: its weights are plotted here."

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
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if stats is None or not stats.counts:
            self.refresh()
            return
        edges, counts = stats.edges, stats.counts
        centers = [(edges[i] + edges[i + 1]) / 2 for i in range(len(counts))]
        inside = [
            low is not None and high is not None and edges[i] <= high and edges[i + 1] >= low
            for i in range(len(counts))
        ]
        color = STEEL_BLUE if role.startswith("weight") else SEA_GREEN
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
        plt.ylim(0, max(max(counts), 1) * 1.05)
        self.refresh()

    def on_resize(self) -> None:
        if self.stats is not None:  # tick count follows the width
            self.show(self.stats, **self._args)

    def render(self) -> RenderResult:
        if self.stats is None:
            return Align.center(Text(self.hint, "dim italic"), vertical="middle")
        return super().render()
