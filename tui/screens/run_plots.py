"""A run's confusion matrix and curves drawn in the terminal, for where no image viewer exists
(over SSH, where the app is used): the counts beside the PNG, and the epochs' metrics."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Static
from textual.worker import Worker

from layerscope.tui.widgets.run_curves import RunCurves
from layerscope.tui.workers import report_failure

if TYPE_CHECKING:
    from layerscope.engine.usecases.runs import ConfusionCounts


class PlotsRead(Message):
    def __init__(self, confusion: ConfusionCounts | None, history: list[dict[str, Any]]) -> None:
        super().__init__()
        self.confusion = confusion
        self.history = history


def confusion_table(counts: ConfusionCounts) -> Table:
    """Rows are true classes, columns predictions; the diagonal (correct) in green, the largest
    mistake in each row in red, each row's recall at its end."""
    n = len(counts.matrix)
    names = counts.classes or [str(i) for i in range(n)]
    table = Table(
        title=f"Confusion matrix · epoch {counts.epoch + 1} (rows: true, columns: predicted)",
        title_justify="left", box=None, padding=(0, 1), show_edge=False,
    )  # fmt: skip
    table.add_column("true \\ pred", no_wrap=True, style="bold", max_width=12)
    for name in names:
        table.add_column(name[:6], justify="right", no_wrap=True)
    table.add_column("recall", justify="right", no_wrap=True)
    for i, row in enumerate(counts.matrix):
        worst = max((v for j, v in enumerate(row) if j != i), default=0)
        cells = []
        for j, v in enumerate(row):
            style = (
                "bold green" if i == j else ("red" if v and v == worst else "dim" if not v else "")
            )
            cells.append(Text(str(v), style))
        total = sum(row)
        recall = f"{row[i] / total:.0%}" if total else "—"
        table.add_row(names[i], *cells, recall)
    return table


class RunPlots(ModalScreen[None]):
    """The confusion matrix (when the run wrote one) above the loss and accuracy curves."""

    BINDINGS = [Binding("escape", "dismiss", "Back", id="plots.back")]
    DEFAULT_CSS = """
    RunPlots {
        align: center middle;
    }
    RunPlots > Vertical {
        width: 100%;
        height: 100%;
        border: round $accent;
        border-title-color: $accent;
        background: $surface;
    }
    RunPlots #confusion-box {
        height: auto;
        max-height: 50%;
    }
    RunPlots RunCurves {
        height: 1fr;
        min-height: 8;
    }
    """

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.confusion_text = ""

    def compose(self) -> ComposeResult:
        box = Vertical()
        box.border_title = f"{self.run_dir.name} · Escape closes"
        with box:
            with VerticalScroll(id="confusion-box"):
                yield Static("Reading the run…", id="confusion")
            yield RunCurves(id="plot-curves")
        yield Footer()

    def on_mount(self) -> None:
        self.read_plots(self.run_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, description="read run plots")
    def read_plots(self, run_dir: Path) -> None:
        from layerscope.engine.usecases.runs import epoch_history, read_confusion

        self.post_message(PlotsRead(read_confusion(run_dir), epoch_history(run_dir)))

    @on(PlotsRead)
    def plots_read(self, message: PlotsRead) -> None:
        static = self.query_one("#confusion", Static)
        if message.confusion is None:
            text = "No confusion matrix yet (one is written after each validation epoch)."
            static.update(Text(text, "dim"))
            self.confusion_text = text
        else:
            table = confusion_table(message.confusion)
            static.update(table)
            console = Console(width=max(40, self.size.width - 4), file=io.StringIO())
            with console.capture() as captured:
                console.print(table)
            self.confusion_text = captured.get()
        self.query_one(RunCurves).show(message.history, key=self.run_dir)

    @on(Worker.StateChanged)
    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
