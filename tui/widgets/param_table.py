"""Hyperparameters of several runs side by side: one column per run, differing rows first and lit.

Filled from ``layerscope.engine.usecases.run_compare.RunComparison`` (its ``params``, each flagged where the
runs differ); the widget only lays the rows out.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from layerscope.tui.widgets.compare_curves import run_colour

DIFFERS = "bold yellow"
MAX_CELL = 40  # characters: a long list in a config would widen every column


def cell(value: Any) -> str:
    """A value as the recipe would write it (``—`` where a run does not have the key)."""
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


class ParamTable(DataTable):
    """Rows: ``(key, values, differs)``; differing rows first, marked ``≠`` and highlighted."""

    DEFAULT_CSS = """
    ParamTable {
        height: 1fr;
        border: round $panel;
        border-title-color: $text;
    }
    ParamTable:focus {
        border: round $accent;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.border_title = "Hyperparameters"
        self.rows_all: list[tuple[str, list[Any], bool]] = []
        self.rows_given: list[tuple[str, list[Any], bool]] = []  # as show() got them
        self.differing_only = False
        self._shown: list[tuple[str, list[Any], bool]] = []

    def show(self, labels: list[str], rows: list[tuple[str, list[Any], bool]]) -> None:
        """One column per run (``labels``, in the runs' colours) and a row per key."""
        self.rows_given = list(rows)
        self.rows_all = [r for r in rows if r[2]] + [r for r in rows if not r[2]]
        self.clear(columns=True)
        self.add_column("", key="flag")
        self.add_column("hyperparameter", key="key")
        for i, label in enumerate(labels):
            r, g, b = run_colour(i)
            self.add_column(Text(label, f"bold rgb({r},{g},{b})"), key=f"run{i}")
        self.fill()

    def fill(self) -> None:
        self.clear()
        self._shown = [r for r in self.rows_all if r[2] or not self.differing_only]
        for key, values, differs in self._shown:
            style = DIFFERS if differs else "dim"
            self.add_row(
                Text("≠", DIFFERS) if differs else "",
                Text(key, style),
                *(Text(cell(v), style if differs else "") for v in values),
            )
        n = sum(1 for r in self.rows_all if r[2])
        same = len(self.rows_all) - n
        self.border_subtitle = (
            f"{n} differ · {same} hidden (f)"
            if self.differing_only
            else f"{n} differ · {same} same"
        )

    def toggle_differing(self) -> None:
        self.differing_only = not self.differing_only
        self.fill()

    def key_of(self, row: int) -> str:
        return self._shown[row][0]

    def differs(self, row: int) -> bool:
        return self._shown[row][2]

    def values_of(self, row: int) -> list[str]:
        """The row's values as shown, one per run."""
        return [cell(v) for v in self._shown[row][1]]
