"""The compare view: two activation reports (or a saved one and the current capture), diffed.

The engine loads the reports and compares them (``layerscope.engine.diff``) in a worker; this screen shows
its rows in a table, flagged tensors highlighted, with the highlighted row's findings below.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, get_current_worker

from layerscope.engine.formatting import num
from layerscope.tui.commands import COMPARE_COMMANDS
from layerscope.tui.keys import COMPARE_KEYS
from layerscope.tui.log import logger
from layerscope.tui.messages import DiffReady
from layerscope.tui.workers import report_failure

if TYPE_CHECKING:
    from layerscope.engine.diff import DiffRow, ReportDiff
    from layerscope.engine.report import Report
    from layerscope.tui.activations import ActivationSession

Source = Path | Any  # a report file, or an ActivationSession (the current capture)
# The telling columns first: at 80 columns the table scrolls sideways past "B zeros".
COLUMNS = ("", "tensor", "flags", "B/A std", "mean shift", "B zeros", "A std", "B std", "kind")
FLAGGED = "bold red"


class CompareScreen(Screen[str | None]):
    """A (reference) against B: one row per tensor in both, flagged ones in red."""

    DEFAULT_CSS = """
    CompareScreen #compare-summary {
        height: auto;
        padding: 0 1;
    }
    CompareScreen DataTable {
        height: 1fr;
        border: round $panel;
    }
    CompareScreen DataTable:focus {
        border: round $accent;
    }
    CompareScreen #compare-detail {
        height: auto;
        min-height: 3;
        max-height: 8;
        padding: 0 1;
        border: round $panel;
        border-title-color: $text-muted;
    }
    """
    BINDINGS = COMPARE_KEYS
    PALETTE = COMPARE_COMMANDS

    def __init__(self, a: Source, b: Source) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.diff: ReportDiff | None = None
        self.flagged_only = False
        self.about = ("", "")

    def compose(self) -> ComposeResult:
        yield Header(icon="◈")
        yield Static(Text("Loading the reports…", "dim italic"), id="compare-summary")
        table: DataTable[Text | str] = DataTable(cursor_type="row", zebra_stripes=True, id="diff")
        table.border_title = "Activations compared (A → B)"
        yield table
        detail = Static("", id="compare-detail")
        detail.border_title = "Findings"
        yield detail
        yield Footer()

    @property
    def table(self) -> DataTable[Text | str]:
        return self.query_one("#diff", DataTable)

    def on_mount(self) -> None:
        self.sub_title = "compare activation reports"
        self.table.add_columns(*COLUMNS)
        self.table.focus()
        self.compare(self.a, self.b)

    # -- the worker ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="compare", exit_on_error=False, description="compare")
    def compare(self, a: Source, b: Source) -> None:
        from layerscope.engine.diff import (
            diff,  # loads layerscope.engine.report, layerscope.engine.stats (torch-free readers)
        )

        reports = [_report(src) for src in (a, b)]
        result = diff(reports[0], reports[1])
        if not get_current_worker().is_cancelled:
            self.post_message(DiffReady(result, (_about(reports[0]), _about(reports[1]))))

    @on(DiffReady)
    def diff_ready(self, message: DiffReady) -> None:
        self.diff, self.about = message.diff, message.about
        d = message.diff
        logger.info(
            "Compared {} with {}: {} matched, {} flagged", d.a, d.b, len(d.rows), len(d.flagged)
        )
        self.fill()

    def fill(self) -> None:
        """(Re)build the table and the summary from the diff."""
        d = self.diff
        if d is None:
            return
        table = self.table
        table.clear()
        rows = d.flagged if self.flagged_only else d.rows
        for row in rows:
            table.add_row(*_cells(row), key=row.name)
        summary = Text.assemble(
            ("A ", "bold"), (_short(d.a), "cyan"), (f"  {self.about[0]}\n", "dim"),
            ("B ", "bold"), (_short(d.b), "cyan"), (f"  {self.about[1]}\n", "dim"),
            f"{len(d.rows)} tensors matched · ",
            (f"{len(d.flagged)} flagged", FLAGGED if d.flagged else "green"),
        )  # fmt: skip
        if d.only_a or d.only_b:
            summary.append(f" · only in A: {len(d.only_a)} · only in B: {len(d.only_b)}", "dim")
        if not d.rows:  # tensors are matched by name: other models or formats share none
            summary.append(
                "\nNo tensor names in common: are these captures of the same model and format?",
                "yellow",
            )
        if self.flagged_only:
            summary.append(" · showing flagged only (f: all)", "yellow")
        for warning in d.warnings:  # other inputs or models: the engine says so, we show it
            summary.append(f"\n⚠ {warning}", "yellow")
        self.query_one("#compare-summary", Static).update(summary)
        first = next((i for i, r in enumerate(rows) if r.flags), 0)  # start where it matters
        if rows:
            table.move_cursor(row=first)
        self.show_detail(rows[first] if rows else None)

    @on(DataTable.RowHighlighted, "#diff")
    def row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.diff is None or event.row_key.value is None:
            return
        row = next((r for r in self.diff.rows if r.name == event.row_key.value), None)
        self.show_detail(row)

    def show_detail(self, row: DiffRow | None) -> None:
        detail = self.query_one("#compare-detail", Static)
        if row is None:
            detail.update(Text("no tensors to show", "dim italic"))
            return
        text = Text.assemble((row.name, "bold"), (f"  {row.kind}", "dim"), "\n")
        if not row.flags:
            text.append("nothing flagged", "green")
        for flag in row.flags:
            # Some of the engine's sentences start with the code already ("saturated: 23% ...").
            text.append(f"⚠ {flag.code}: ", FLAGGED)
            text.append(f"{flag.message.removeprefix(f'{flag.code}: ')}\n")
        detail.update(text.rstrip() or text)

    # -- errors --------------------------------------------------------------------------------
    @on(Worker.StateChanged)
    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        failure = report_failure(self, event)
        if failure is not None:
            self.query_one("#compare-summary", Static).update(
                Text(f"Could not compare: {failure.text}  (Escape goes back)", "bold red")
            )

    # -- actions -------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.workers.cancel_group(self, "compare")
        self.dismiss()

    def action_swap(self) -> None:
        """B becomes the reference: the flags then describe the other side."""
        self.a, self.b = self.b, self.a
        self.diff = None
        self.table.clear()
        self.query_one("#compare-summary", Static).update(Text("Comparing…", "dim italic"))
        self.compare(self.a, self.b)

    def action_flagged_only(self) -> None:
        self.flagged_only = not self.flagged_only
        self.fill()

    @on(DataTable.RowSelected, "#diff")
    def action_inspect_row(self) -> None:
        """Back to the inspector on the highlighted row's layer (B's name), its activations on."""
        table = self.table
        if self.diff is None or not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        row = next((r for r in self.diff.rows if r.name == key), None)
        if row is not None:
            self.workers.cancel_group(self, "compare")
            self.dismiss(row.layer or row.name)


def _report(source: Source) -> Report:
    if isinstance(source, Path):
        from layerscope.engine.report import load

        return load(source)
    session: ActivationSession = source
    report = session.report()
    report.model["name"] = f"current capture of {session.model.path.name}"
    return report


def _about(report: Report) -> str:
    """``resnet8.onnx · digits[3] (label=3)``: which model saw which input."""
    model = report.model.get("path") or report.model.get("format") or "?"
    return f"{Path(str(model)).name} · {report.input.get('description', '?')}"


def _short(name: str) -> str:
    """A report's label: its file name (with its folder when that is all there is)."""
    path = Path(name)
    return path.name if path.suffix == ".json" else name


def _cells(row: DiffRow) -> list[Text | str]:
    style = FLAGGED if row.flags else ""
    ratio = row.std_ratio
    ratio_text = "—" if ratio is None else "∞" if math.isinf(ratio) else f"{ratio:.3g}×"
    shift = row.mean_shift
    shift_text = "—" if shift is None else "∞" if math.isinf(shift) else f"{shift:.3g} σ"
    return [
        Text("⚠", FLAGGED) if row.flags else "",
        Text(row.label, style),  # both names where torch and ONNX were matched
        Text(", ".join(f.code for f in row.flags), style),
        Text(ratio_text, style),
        shift_text,
        f"{row.b.zero_fraction:.0%}",
        num(row.a.std, 4),
        num(row.b.std, 4),
        Text(row.kind, "dim"),
    ]
