"""The Quantization view's table: one row per compared layer or activation, worst SQNR first."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

from layerscope.engine.formatting import num

if TYPE_CHECKING:
    from layerscope.engine.quant_compare import Comparison, LayerComparison, TensorComparison

FLAGGED = "bold red"
FLAG = "⚑"  # a flagged row; "◀" marks where the drop starts (its inputs were still fine)
TITLE = "Layers · worst SQNR first"
# (key, header, short header). Narrow terminals first shorten the headers, then drop columns
# least important first; the verdict columns (flag, layer, weight dB, act dB) always stay.
COLUMNS = [
    ("flag", " ", " "),
    ("layer", "layer", "layer"),
    ("op", "op", "op"),
    ("w", "weight dB", "weight dB"),  # the verdict reads in full
    ("a", "act dB", "act dB"),
    ("cos", "act cos", "cos"),
    ("dw", "max |Δw|", "|Δw|"),
]
DROP_ORDER = ("dw", "cos", "op")


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
    """Rows from ``layerscope.engine.quant_compare.compare``; flagged rows in red, worst first."""

    DEFAULT_CSS = """
    QuantTable {
        height: auto;  /* as tall as its rows (up to the screen's max): plots get the rest */
        min-height: 4;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.rows_shown: list[QuantRow] = []
        self.border_title = TITLE
        self._layout: tuple[tuple[str, ...], bool, int | None] | None = None  # columns drawn

    def on_mount(self) -> None:
        self._fill()

    def on_resize(self) -> None:
        if self._fit() != self._layout:  # the columns that fit changed: draw them again
            self._fill(self.current.key if self.current is not None else None)

    def show_rows(self, rows: list[QuantRow], *, flagged_only: bool = False) -> None:
        """Fill the table, keeping the cursor on the same row when it is still shown."""
        current = self.current.key if self.current is not None else None
        self.rows_shown = [r for r in rows if r.flagged] if flagged_only else list(rows)
        self._fill(current)

    def _fit(self) -> tuple[tuple[str, ...], bool, int | None]:
        """The columns that fit the width without scrolling sideways: their keys, whether the
        headers are the short ones, and the layer column's width when names must be cut."""
        cells = {key: [cell_len(c) for c in cs] for key, cs in self._texts().items()}
        pad = 2 * self.cell_padding

        def width(key: str, short: bool) -> int:
            header = next(h[2 if short else 1] for h in COLUMNS if h[0] == key)
            return max([cell_len(header), *cells.get(key, [])]) + pad

        keys = [k for k, _, _ in COLUMNS]
        # Room for a vertical scrollbar is kept: rows may outgrow the table's height.
        room = self.size.width - self.styles.scrollbar_size_vertical
        if room <= 0 or sum(width(k, False) for k in keys) <= room:
            return tuple(keys), False, None
        for drop in (None, *DROP_ORDER):
            if drop is not None:
                keys.remove(drop)
            if sum(width(k, True) for k in keys) <= room:
                return tuple(keys), True, None
        rest = room - sum(width(k, True) for k in keys if k != "layer")
        return tuple(keys), True, max(8, rest - pad)

    def _texts(self) -> dict[str, list[str]]:
        """Every row's cells as plain text, by column key."""
        texts: dict[str, list[str]] = {k: [] for k, _, _ in COLUMNS}
        for row in self.rows_shown:
            for (key, _, _), cell in zip(COLUMNS, self._cells(row), strict=True):
                texts[key].append(cell.plain)
        return texts

    def _fill(self, current: str | None = None) -> None:
        """Columns that fit the width, then the rows; the cursor stays on ``current``'s row."""
        self._layout = keys, short, name_width = self._fit()
        self.clear(columns=True)
        texts = self._texts()
        for key, header, abbreviated in COLUMNS:
            if key in keys:
                label = abbreviated if short else header
                width = max([cell_len(label), *(cell_len(t) for t in texts[key])])
                if key == "layer" and name_width is not None:
                    width = name_width
                # Set, not measured when idle: a refit on resize must not draw header widths.
                self.add_column(label, width=width, key=key)
        for row in self.rows_shown:
            cells = dict(zip([k for k, _, _ in COLUMNS], self._cells(row), strict=True))
            if name_width is not None and cell_len(row.name) > name_width:
                # The tail tells layers apart (…/layer3/conv2/Conv): cut from the left.
                cells["layer"] = Text("…" + row.name[-(name_width - 1) :], cells["layer"].style)
            self.add_row(*(cells[k] for k in keys), key=row.key)
        hidden = [h for k, h, _ in COLUMNS if k not in keys]
        self.border_title = TITLE + (f" · {', '.join(hidden)} shown when wider" if hidden else "")
        keys_shown = [r.key for r in self.rows_shown]
        if current in keys_shown:
            self.move_cursor(row=keys_shown.index(current))

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
