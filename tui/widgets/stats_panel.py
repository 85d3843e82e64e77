"""The statistics panel: shape, counts, moments, NaN/Inf and the value-range count."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from layerscope.engine.formatting import num, shape_str

if TYPE_CHECKING:
    from layerscope.engine.model import TensorRef
    from layerscope.engine.stats import TensorStats

WIDE, WIDER = 40, 96  # content widths from which two (three) key/value pairs share a row


class StatsPanel(Widget):
    """Key/value rows for the shown tensor; all numbers come from the engine."""

    DEFAULT_CSS = """
    StatsPanel {
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Statistics"
        self.rows: list[tuple[str, Text | str]] = []

    def show(
        self,
        ref: TensorRef | None,
        stats: TensorStats | None,
        *,
        in_range: int | None = None,
        low: float | None = None,
        high: float | None = None,
        name: str | None = None,
        title: str = "Statistics",
    ) -> None:
        """Fill the panel for ``ref`` (or a tensor ``name`` without one, e.g. an activation);
        ``in_range`` is the engine's count inside [low, high]."""
        self.border_title = title
        rows: list[tuple[str, Text | str]] = []
        name = name if name is not None else ref.name if ref is not None else None
        if name is None or stats is None:
            self._set_rows([])
            return
        rows.append(("tensor", Text(name, "bold")))
        rows.append(("shape", shape_str(stats.shape)))
        rows.append(("elements", f"{stats.numel:,}"))
        rows.append(("dtype", stats.dtype))
        rows.append(("zeros", f"{stats.zeros:,} ({stats.zero_fraction:.2%})"))
        rows.append(("min", num(stats.min)))
        rows.append(("max", num(stats.max)))
        rows.append(("mean", num(stats.mean)))
        rows.append(("std", num(stats.std)))
        bad = stats.nan + stats.posinf + stats.neginf
        rows.append(("nan", Text(f"{stats.nan:,}", "bold red" if stats.nan else "")))
        rows.append(
            ("±inf", Text(f"{stats.posinf:,} / {stats.neginf:,}", "bold red" if bad else ""))
        )
        if in_range is not None and low is not None and high is not None:
            share = in_range / stats.numel if stats.numel else 0.0
            rows.append(
                (
                    f"in [{num(low, 4)}, {num(high, 4)}]",
                    Text(f"{in_range:,} ({share:.2%})", "bold yellow"),
                )
            )
        self._set_rows(rows)

    def _set_rows(self, rows: list[tuple[str, Text | str]]) -> None:
        # A new layout only when the height may change: relayout is the slow part of a redraw.
        relayout = len(rows) != len(self.rows)
        self.rows = rows
        self.refresh(layout=relayout)

    def render(self) -> RenderResult:
        if not self.rows:
            return Text("no tensor selected", "dim italic")
        width = self.content_size.width
        pairs = 1 if width < WIDE else 2 if width < WIDER else 3
        if pairs == 1:
            return self._grid(self.rows, 1)
        # Several pairs a row; the long ones (tensor name, value range) get a line of their own.
        name, *rest = self.rows
        wide = [row for row in rest if row[0].startswith("in [")]
        grid = self._grid([row for row in rest if row not in wide], pairs)
        lines = [
            Text.assemble((f"{k} ", "dim"), v, no_wrap=True, overflow="ellipsis") for k, v in wide
        ]
        head = Text.assemble(("tensor ", "dim"), name[1], no_wrap=True, overflow="ellipsis")
        return Group(head, grid, *lines)

    @staticmethod
    def _grid(rows: list[tuple[str, Text | str]], pairs: int) -> Table:
        table = Table.grid(padding=(0, 1), expand=False)
        for _ in range(pairs):
            table.add_column(style="dim", no_wrap=True)
            table.add_column(no_wrap=False)
        for i in range(0, len(rows), pairs):
            cells: list[Text | str] = []
            for key, value in rows[i : i + pairs]:
                cells += [key, value]
            table.add_row(*cells)
        return table
