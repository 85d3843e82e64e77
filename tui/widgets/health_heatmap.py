"""The layer-health heatmap: layers (rows, forward order) × training steps (columns).

It only draws: the screen reads the run's health file in a worker (``layerscope.engine.training.health``),
downsamples it to the widget's width and maps each value to a colour on a log scale
(:func:`colour_grid`, plain NumPy, off the UI thread); ``render_line`` then only looks colours
up, one visible row at a time, so 100 layers × 10k steps redraws as fast as 100 × 80 does.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

# A perceptually even palette (viridis, 10 steps): dark is low, yellow is high.
PALETTE = (
    "#440154", "#482475", "#414487", "#355f8d", "#2a788e",
    "#21918c", "#22a884", "#44bf70", "#7ad151", "#fde725",
)  # fmt: skip
NAN = 255  # "does not apply" (no parameters, no gradient reached it): no colour
ZERO = 254  # exactly zero: off the log scale, its own colour
ZERO_COLOUR = "#000000"
MARK = "✖"  # an alert in this cell
CURSOR = "◆"
GUTTER_MAX = 24
MAX_CELL = 4  # characters per step when a short run leaves room: a few samples stay readable


@dataclass
class HeatmapData:
    """What the heatmap draws: ``colours`` (layers × columns, palette indices, NAN, ZERO)."""

    layers: list[str]
    steps: np.ndarray  # each column's first step
    colours: np.ndarray  # uint8
    lo: float = math.nan  # the log scale's ends (values, not logs)
    hi: float = math.nan
    marks: dict[tuple[int, int], list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def columns(self) -> int:
        return int(self.colours.shape[1]) if self.colours.ndim == 2 else 0


def colour_grid(matrix: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Palette indices of ``matrix`` on a log scale between its smallest and largest positive
    finite values (zero and negatives: ``ZERO``; NaN: ``NAN``); and those two values."""
    m = np.asarray(matrix, dtype=np.float64)
    out = np.full(m.shape, NAN, dtype=np.uint8)
    finite = np.isfinite(m)
    pos = finite & (m > 0)
    out[finite & (m <= 0)] = ZERO
    out[np.isinf(m)] = len(PALETTE) - 1  # an overflow is as high as it gets
    if not pos.any():
        return out, math.nan, math.nan
    logs = np.log10(m[pos])
    lo, hi = float(logs.min()), float(logs.max())
    span = hi - lo
    if span <= 0:
        idx = np.full(logs.shape, len(PALETTE) // 2)
    else:
        idx = np.minimum(((logs - lo) / span * len(PALETTE)).astype(np.int64), len(PALETTE) - 1)
    out[pos] = idx.astype(np.uint8)
    return out, 10**lo, 10**hi


def _styles() -> list[Style]:
    """One style per palette index (and ZERO, NAN); the glyph colour keeps marks readable."""
    styles = [Style(bgcolor=c, color="white" if i < 6 else "black") for i, c in enumerate(PALETTE)]
    lookup = {i: s for i, s in enumerate(styles)}
    lookup[ZERO] = Style(bgcolor=ZERO_COLOUR, color="white")
    lookup[NAN] = Style(color="grey50")
    return [lookup.get(i, Style()) for i in range(256)]


STYLES = _styles()
MARK_STYLE = Style(bold=True, color="#ff3b3b")


class HealthHeatmap(Widget, can_focus=True):
    """Arrow keys (and clicks) move a cursor over the cells."""

    BINDINGS = [
        Binding("up", "move(-1, 0)", "Up", show=False),
        Binding("down", "move(1, 0)", "Down", show=False),
        Binding("left", "move(0, -1)", "Left", show=False),
        Binding("right", "move(0, 1)", "Right", show=False),
        Binding("pageup", "move(-10, 0)", "Page up", show=False),
        Binding("pagedown", "move(10, 0)", "Page down", show=False),
        Binding("home", "jump(0)", "First step", show=False),
        Binding("end", "jump(-1)", "Last step", show=False),
    ]  # Enter is the screen's: it opens the cell's checkpoint
    DEFAULT_CSS = """
    HealthHeatmap {
        height: 1fr;
        min-height: 4;
    }
    """

    @dataclass
    class CursorMoved(Message):
        """The cursor is on ``(row, column)`` now."""

        row: int
        column: int

    @dataclass
    class Resized(Message):
        """The width changed: ``columns`` cells fit now (the screen downsamples to them)."""

        columns: int

    row: reactive[int] = reactive(0, repaint=False)
    column: reactive[int] = reactive(0, repaint=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: HeatmapData | None = None
        self.top = 0  # first layer shown (rows scroll when there are more than fit)
        self.hint = "No layer health yet."
        self._follow_end = True  # the cursor stays on the newest column while the run grows
        self._columns = 0

    # -- geometry ------------------------------------------------------------------------------
    @property
    def gutter(self) -> int:
        names = self.data.layers if self.data is not None else []
        return min(GUTTER_MAX, max((len(n) for n in names), default=5) + 1)

    def fit_columns(self, width: int | None = None) -> int:
        """Cells that fit beside the layer names at ``width`` (default: the current width)."""
        width = self.size.width if width is None else width
        return max(1, width - self.gutter - 1)

    @property
    def cell_width(self) -> int:
        """Characters per column: 1, or up to ``MAX_CELL`` when the run has few samples."""
        n = self.data.columns if self.data is not None else 0
        return max(1, min(MAX_CELL, self.fit_columns() // n)) if n else 1

    @property
    def visible_rows(self) -> int:
        return max(1, self.size.height - 1)  # the first line is the step axis

    def on_resize(self, event: events.Resize) -> None:
        columns = self.fit_columns(event.size.width)
        if columns != self._columns:
            self._columns = columns
            self.post_message(self.Resized(columns))
        self._scroll_to_cursor()

    # -- data ----------------------------------------------------------------------------------
    def show(self, data: HeatmapData | None, hint: str = "") -> None:
        """Draw ``data`` (``None``: the hint); the cursor stays on its layer and step."""
        old = self.data
        step = None
        if old is not None and old.columns and not self._follow_end:
            step = int(old.steps[min(self.column, old.columns - 1)])
        self.data = data
        if hint:
            self.hint = hint
        if data is not None and data.columns:
            if step is None:
                column = data.columns - 1 if self._follow_end else 0
            else:  # the column whose first step is the last at or before the old step
                column = max(0, int(np.searchsorted(data.steps, step, side="right")) - 1)
            self.set_cursor(min(self.row, len(data.layers) - 1), column, announce=True)
        self.refresh()

    def set_cursor(self, row: int, column: int, *, announce: bool = True) -> None:
        data = self.data
        if data is None or not data.columns or not data.layers:
            return
        row = max(0, min(row, len(data.layers) - 1))
        column = max(0, min(column, data.columns - 1))
        self._follow_end = column == data.columns - 1
        self.row, self.column = row, column
        self._scroll_to_cursor()
        self.refresh()
        if announce:
            self.post_message(self.CursorMoved(row, column))

    def _scroll_to_cursor(self) -> None:
        rows = self.visible_rows
        if self.row < self.top:
            self.top = self.row
        elif self.row >= self.top + rows:
            self.top = self.row - rows + 1
        n = len(self.data.layers) if self.data is not None else 0
        self.top = max(0, min(self.top, max(0, n - rows)))

    # -- keys ----------------------------------------------------------------------------------
    def action_move(self, rows: int, columns: int) -> None:
        self.set_cursor(self.row + rows, self.column + columns)

    def action_jump(self, column: int) -> None:
        if self.data is not None and self.data.columns:
            self.set_cursor(self.row, column % self.data.columns)

    def on_click(self, event: events.Click) -> None:
        if self.data is None or event.y < 1:
            return
        column = (event.x - self.gutter - 1) // self.cell_width
        if event.x > self.gutter and 0 <= column < self.data.columns:
            self.set_cursor(self.top + event.y - 1, column)

    # -- drawing -------------------------------------------------------------------------------
    def cell_text(self, row: int) -> str:
        """A layer's row as plain text (glyphs only): tests and the README read it."""
        return "".join(seg.text for seg in self._row_segments(row, self.size.width or 200))

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        data = self.data
        if data is None or not data.columns or not data.layers:
            lines = textwrap.wrap(self.hint, max(10, width - 2)) or [""]
            i = y - max(0, (self.size.height - len(lines)) // 2)
            if 0 <= i < len(lines):
                text = Segment(lines[i].center(width), Style(dim=True, italic=True))
                return Strip([text]).adjust_cell_length(width)
            return Strip.blank(width)
        if y == 0:
            return Strip(self._axis(width)).adjust_cell_length(width)
        row = self.top + y - 1
        if row >= len(data.layers):
            return Strip.blank(width)
        # Padded to the width: a short strip would leave the old frame's cells on screen.
        return Strip(self._row_segments(row, width)).adjust_cell_length(width)

    def _axis(self, width: int) -> list[Segment]:
        """Step labels above a few columns, the cursor's column labelled when there is room."""
        assert self.data is not None
        steps, gutter, n, cw = self.data.steps, self.gutter, self.data.columns, self.cell_width
        line = [" "] * max(width, gutter + 1 + n * cw)
        head = "step"[:gutter]
        line[: len(head)] = head
        marks = sorted({0, n - 1, *range(0, n, max(1, 16 // cw))})
        for c in marks:
            label = f"{int(steps[c])}"
            at = gutter + 1 + c * cw
            if all(ch == " " for ch in line[at : at + len(label) + 1]):
                line[at : at + len(label)] = label
        text = "".join(line)[:width]
        cursor_at = gutter + 1 + self.column * cw
        return [
            Segment(text[:cursor_at], Style(dim=True)),
            Segment(text[cursor_at : cursor_at + cw] or " ", Style(reverse=True, dim=True)),
            Segment(text[cursor_at + cw :], Style(dim=True)),
        ]

    def _row_segments(self, row: int, width: int) -> list[Segment]:
        assert self.data is not None
        data, gutter, cw = self.data, self.gutter, self.cell_width
        name = data.layers[row]
        if len(name) > gutter - 1:
            name = "…" + name[-(gutter - 2) :]
        is_cursor_row = row == self.row
        label_style = Style(bold=True, reverse=True) if is_cursor_row and self.has_focus else (
            Style(bold=True) if is_cursor_row else Style(dim=True)
        )  # fmt: skip
        segments = [Segment(name.ljust(gutter - 1), label_style), Segment("  ")]
        colours = data.colours[row]
        run_style: Style | None = None
        run = ""
        pad = " " * (cw - 1)
        for c in range(min(data.columns, max(0, (width - gutter - 1) // cw))):
            style = STYLES[int(colours[c])]
            glyph = " " if colours[c] != NAN else "·"
            if (row, c) in data.marks:
                glyph, style = MARK, style + MARK_STYLE
            if is_cursor_row and c == self.column:
                glyph = MARK if (row, c) in data.marks else CURSOR
                light = 6 <= colours[c] < len(PALETTE)
                style = style + Style(color="black" if light else "white", bold=True)
            glyph += pad
            if style is run_style:
                run += glyph
                continue
            if run:
                segments.append(Segment(run, run_style))
            run, run_style = glyph, style
        if run:
            segments.append(Segment(run, run_style))
        return segments


def legend(quantity: str, lo: float, hi: float) -> list[tuple[str, Style | str]]:
    """``act_std (log) 1e-3 ██████ 4.2 · 0 · n/a · ✖ alert`` as (text, style) pieces."""
    if math.isnan(lo):
        scale: list[tuple[str, Style | str]] = [("no positive values", "dim")]
    else:
        scale = [(f"{lo:.2g} ", "")]
        scale += [(" ", Style(bgcolor=c)) for c in PALETTE]
        scale += [(f" {hi:.2g}", "")]
    return [
        (f"{quantity} (log) ", "bold"),
        *scale,
        ("  ", ""),
        (" ", Style(bgcolor=ZERO_COLOUR)),
        (" 0  · n/a  ", "dim"),
        (MARK, MARK_STYLE),
        (" alert", "dim"),
    ]
