"""The runs table: one row per run folder (named by its start time), status, epoch, best accuracy.

Space marks runs for the compare view (a ✓ before the name); marks are kept by folder, so they
survive the list being read again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from layerscope.tui.widgets.run_status import STATUS_STYLES

# No "started" column: a run's folder name starts with its start time (YYYYmmdd-HHMMSS).
# val_acc: the best epoch's; a run ranked by another metric (a regression's val_loss) names it.
COLUMNS = ("Run", "Status", "Epoch", "val_acc")


class RunTable(DataTable):
    """Newest run first; the highlighted row survives a refresh (rows are keyed by folder)."""

    BINDINGS = [  # the table's own Enter, named so the footer shows what it does
        Binding(
            "enter", "select_cursor", "Open", tooltip="Follow or replay the run", id="runs.open"
        ),
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            show=False,
            tooltip="Mark the run for compare (d)",
            id="runs.mark",
        ),
    ]
    MARK = "✓ "
    DEFAULT_CSS = """
    RunTable {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.border_title = "Runs"
        self.runs: dict[str, Any] = {}  # path → layerscope.engine.training.runs.RunInfo
        self._marked: set[str] = set()  # paths

    def on_mount(self) -> None:
        self.add_column(COLUMNS[0], key="name")
        self.add_columns(*COLUMNS[1:])

    @property
    def current(self) -> Any | None:
        """The highlighted run's ``RunInfo``, if any."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.runs.get(key or "")

    @property
    def current_dir(self) -> Path | None:
        info = self.current
        return Path(info.path) if info is not None else None

    @property
    def marked(self) -> list[str]:
        """The marked runs' paths, in the table's order (newest first)."""
        return [key for key in self._row_order() if key in self._marked]

    def _row_order(self) -> list[str]:
        return [str(row.key.value) for row in self.ordered_rows]

    def action_toggle_mark(self) -> None:
        info = self.current
        if info is None:
            return
        self._marked ^= {info.path}
        self.update_cell(info.path, "name", self._name_cell(info))
        self._subtitle()
        self.post_message(self.MarksChanged())

    class MarksChanged(Message):
        """A run was marked or unmarked."""

    def _name_cell(self, info: Any) -> str:
        return f"{self.MARK}{info.name}" if info.path in self._marked else info.name

    def _subtitle(self) -> None:
        n = len(self.runs)
        text = f"{n} runs" if n != 1 else "1 run"
        marked = len(self._marked)
        if marked == 1:
            text += " · 1 marked: mark another (space) to compare"
        elif marked:
            text += f" · {marked} marked: d compares them"
        self.border_subtitle = text

    def show(self, runs: list[Any]) -> None:
        """Replace the rows with ``runs`` (oldest first, as the engine lists them)."""
        keep = self.current_dir
        self.runs = {r.path: r for r in runs}
        self._marked &= self.runs.keys()  # a run deleted meanwhile is no longer marked
        self.clear()
        for r in reversed(runs):
            epoch = "—" if r.epoch is None else f"{r.epoch + 1}/{r.max_epochs or '?'}"
            best = "—" if r.best_value is None else f"{r.best_value:.4f}"
            if r.best_value is not None and r.best_metric not in (None, COLUMNS[3]):
                best = f"{r.best_value:.4g} {r.best_metric}"  # a run ranked by its own metric
            status = Text(r.status, STATUS_STYLES.get(r.status, ""))
            self.add_row(self._name_cell(r), status, epoch, best, key=r.path)
        if keep is not None and str(keep) in self.runs:
            self.move_cursor(row=self.get_row_index(str(keep)), animate=False)
        self._subtitle()
