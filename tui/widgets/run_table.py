"""The runs table: one row per run folder (named by its start time), status, epoch, best accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from tui.widgets.run_status import STATUS_STYLES

# No "started" column: a run's folder name starts with its start time (YYYYmmdd-HHMMSS).
COLUMNS = ("Run", "Status", "Epoch", "val_acc")  # val_acc: the best epoch's


class RunTable(DataTable):
    """Newest run first; the highlighted row survives a refresh (rows are keyed by folder)."""

    BINDINGS = [  # the table's own Enter, named so the footer shows what it does
        Binding(
            "enter", "select_cursor", "Open", tooltip="Follow or replay the run", id="runs.open"
        ),
    ]
    DEFAULT_CSS = """
    RunTable {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.border_title = "Runs"
        self.runs: dict[str, Any] = {}  # path → engine.training.runs.RunInfo

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

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

    def show(self, runs: list[Any]) -> None:
        """Replace the rows with ``runs`` (oldest first, as the engine lists them)."""
        keep = self.current_dir
        self.runs = {r.path: r for r in runs}
        self.clear()
        for r in reversed(runs):
            epoch = "—" if r.epoch is None else f"{r.epoch + 1}/{r.max_epochs or '?'}"
            best = "—" if r.best_value is None else f"{r.best_value:.4f}"
            status = Text(r.status, STATUS_STYLES.get(r.status, ""))
            self.add_row(r.name, status, epoch, best, key=r.path)
        if keep is not None and str(keep) in self.runs:
            self.move_cursor(row=self.get_row_index(str(keep)), animate=False)
        self.border_subtitle = f"{len(runs)} runs" if len(runs) != 1 else "1 run"
