"""The Quantization view's table: one row per compared layer or activation, worst SQNR first."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from engine.formatting import num

if TYPE_CHECKING:
    from engine.quant_compare import Comparison, LayerComparison, TensorComparison

FLAGGED = "bold red"
FLAG = "⚑"  # a flagged row; "◀" marks where the drop starts (its inputs were still fine)


def db(value: float | None) -> str:
    """An SQNR for people: ``exact`` for no error at all, one decimal otherwise."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "exact" if value > 0 else "-inf"
    return f"{value:.1f}"


@dataclass
class QuantRow:
    """One table row: a conv/linear layer (``layer``) or a further activation (``act``)."""

    key: str
    name: str
    op: str
    sqnr: float  # the engine's worst SQNR of the row, used only to order rows
    flagged: bool
    origin: bool
    layer: LayerComparison | None = None
    act: TensorComparison | None = None


def rows_of(result: Comparison) -> list[QuantRow]:
    """Layers (in the engine's worst-first order) and further activations, worst first."""
    rows = [
        QuantRow(
            f"L{c.index}",
            c.quant_layer,
            c.op_types[1],
            c.worst_sqnr_db,
            c.flagged,
            bool(getattr(c, "origin", False)),
            layer=c,
        )  # fmt: skip
        for c in result.worst_first()
    ]
    for i, a in enumerate(result.activations):
        sqnr = -math.inf if a.figures.nonfinite else a.sqnr_db  # NaN/Inf sort first, as layers do
        name = a.exclude_node or a.float_name
        rows.append(
            QuantRow(
                f"A{i}", name, "act", sqnr, a.flagged, bool(getattr(a, "origin", False)), act=a
            )
        )
    # A stable sort keeps the engine's tie order (graph order) among equal SQNRs.
    return sorted(rows, key=lambda r: -math.inf if math.isnan(r.sqnr) else r.sqnr)


class QuantTable(DataTable):
    """Rows from ``engine.quant_compare.compare``; flagged rows in red, worst first."""

    DEFAULT_CSS = """
    QuantTable {
        height: auto;  /* as tall as its rows (up to the screen's max): plots get the rest */
        min-height: 4;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.rows_shown: list[QuantRow] = []
        self.border_title = "Layers · worst SQNR first"

    def on_mount(self) -> None:
        self.add_column(" ", key="flag")
        self.add_column("layer", key="layer")
        self.add_column("op", key="op")
        self.add_column("weight dB", key="w")
        self.add_column("act dB", key="a")
        self.add_column("act cos", key="cos")
        self.add_column("max |Δw|", key="dw")

    def show_rows(self, rows: list[QuantRow], *, flagged_only: bool = False) -> None:
        """Fill the table, keeping the cursor on the same row when it is still shown."""
        current = self.current.key if self.current is not None else None
        self.clear()
        self.rows_shown = [r for r in rows if r.flagged] if flagged_only else list(rows)
        for row in self.rows_shown:
            self.add_row(*self._cells(row), key=row.key)
        keys = [r.key for r in self.rows_shown]
        if current in keys:
            self.move_cursor(row=keys.index(current))

    @property
    def current(self) -> QuantRow | None:
        """The row under the cursor."""
        if not self.rows_shown or not 0 <= self.cursor_row < len(self.rows_shown):
            return None
        return self.rows_shown[self.cursor_row]

    @staticmethod
    def _cells(row: QuantRow) -> list[Text]:
        style = FLAGGED if row.flagged else ""
        mark = (FLAG + ("◀" if row.origin else "")) if row.flagged else ""
        if row.layer is not None:
            w, a = row.layer.weight, row.layer.activation
        else:
            w, a = None, row.act
        cos = a.figures.cosine if a is not None else None
        cells = [
            mark,
            row.name,
            row.op,
            db(w.sqnr_db) if w is not None else "—",
            db(a.sqnr_db) if a is not None else "—",
            f"{cos:.4f}" if cos is not None else "—",
            num(w.figures.max_abs_error, 3) if w is not None else "—",
        ]
        return [Text(c, style, justify="right" if i >= 3 else "left") for i, c in enumerate(cells)]
