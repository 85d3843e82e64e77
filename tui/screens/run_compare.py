"""Compare runs: the marked runs' loss and the task's metric per epoch overlaid (a colour per run,
one legend), and their hyperparameters side by side with the differences first and lit - the
optimizer-sweep view (SGD vs Adam vs AdamW on one recipe).

Everything comes from ``layerscope.engine.usecases.run_compare.compare_run_dirs`` (``history.json``,
``config.yaml``/``hparams.yaml`` and the events of each run), read in a worker; this screen only
picks which metrics to plot and lays them out.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, get_current_worker

from layerscope.tui.keys import RUN_COMPARE_KEYS
from layerscope.tui.widgets.compare_curves import CompareCurves, legend
from layerscope.tui.widgets.param_table import ParamTable
from layerscope.tui.workers import report_failure

if TYPE_CHECKING:
    from layerscope.engine.usecases.run_compare import RunComparison

STAMP = re.compile(r"^\d{8}-\d{6}-")  # a run folder's start time: YYYYmmdd-HHMMSS-
REFRESH_S = 5.0  # a run still training adds epochs: read again while the view shows


class RunsCompared(Message):
    def __init__(self, comparison: RunComparison) -> None:
        super().__init__()
        self.comparison = comparison


def run_labels(names: list[str]) -> list[str]:
    """Run names without their start time (``sgd``), unless that makes two runs look the same."""
    short = [STAMP.sub("", n) or n for n in names]
    return short if len(set(short)) == len(short) else list(names)


def plotted_metrics(comparison: RunComparison) -> tuple[str | None, str | None]:
    """(loss, the task's metric): ``val_loss`` (else any loss) and the metric the runs rank by
    when it is not a loss (``val_acc``), else the first validation metric that is not a loss
    (a regression's ``val_mae``, ``val_psnr``...)."""
    metrics = comparison.metrics
    losses = [m for m in metrics if "loss" in m]
    loss = "val_loss" if "val_loss" in losses else (losses[0] if losses else None)
    ranked = Counter(r.best_metric for r in comparison.runs if r.best_metric)
    others = [m for m in metrics if "loss" not in m]
    for name, _ in ranked.most_common():
        if name in others:
            return loss, name
    val = [m for m in others if m.startswith("val_")]
    return loss, (val or others or [None])[0]


def param_rows(comparison: RunComparison) -> list[tuple[str, list[Any], bool]]:
    """The best value each run reached, then every hyperparameter (``differs`` as the engine says)."""
    runs = comparison.runs
    rows: list[tuple[str, list[Any], bool]] = []
    metrics = {r.best_metric for r in runs}
    if metrics != {None}:
        if len(metrics) == 1:
            key, values = f"best {runs[0].best_metric}", [r.best_value for r in runs]
        else:  # runs ranked by different metrics: say which beside each value
            key = "best"
            values = [
                f"{r.best_metric} {r.best_value:.4g}" if r.best_metric else None for r in runs
            ]
        rows.append((key, values, len({str(v) for v in values}) > 1))
    rows += [(p.key, p.values, p.differs) for p in comparison.params]
    return rows


class RunCompareScreen(Screen):
    """Two plots (loss, metric) over a shared legend, and the hyperparameter table."""

    BINDINGS = RUN_COMPARE_KEYS
    PALETTE = [  # (title, action, help) for layerscope.tui.commands
        ("compare runs: differences only", "differing_only", "Hide the hyperparameters every run shares (f)"),
        ("compare runs: refresh", "refresh", "Read the runs again: a live run has more epochs (r)"),
        ("compare runs: back", "back", "Back to the runs (Escape)"),
    ]  # fmt: skip
    DEFAULT_CSS = """
    RunCompareScreen #compare-plots {
        height: 1fr;
    }
    RunCompareScreen #compare-legend {
        height: auto;
        max-height: 2;
        padding: 0 1;
    }
    RunCompareScreen ParamTable {
        height: 1fr;
    }
    """

    def __init__(self, run_dirs: list[Path]) -> None:
        super().__init__()
        self.run_dirs = [Path(d) for d in run_dirs]
        self.comparison: RunComparison | None = None
        self._shown: dict[str, Any] | None = None  # what is drawn, to skip unchanged re-reads
        self.following = True  # off after a failed read, until r
        self.labels = run_labels([d.name for d in self.run_dirs])

    def compose(self) -> ComposeResult:
        yield Header(icon="◈")
        with Horizontal(id="compare-plots"):
            yield CompareCurves(id="compare-loss")
            yield CompareCurves(id="compare-metric")
        yield Static(legend(self.labels), id="compare-legend")
        yield ParamTable(id="params")
        yield Footer()

    @property
    def loss_plot(self) -> CompareCurves:
        return self.query_one("#compare-loss", CompareCurves)

    @property
    def metric_plot(self) -> CompareCurves:
        return self.query_one("#compare-metric", CompareCurves)

    @property
    def params(self) -> ParamTable:
        return self.query_one(ParamTable)

    def on_mount(self) -> None:
        self.sub_title = f"Compare {len(self.run_dirs)} runs"
        self.params.focus()
        self.read_runs()
        self._timer = self.set_interval(REFRESH_S, self._tick)

    def _tick(self) -> None:
        if self.following:
            self.read_runs()

    def on_screen_suspend(self) -> None:
        self._timer.pause()

    def on_screen_resume(self) -> None:
        self._timer.resume()

    def on_resize(self) -> None:
        self.query_one(Footer).compact = self.size.width < 100

    # -- worker --------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="compare", exit_on_error=False, description="compare")
    def read_runs(self) -> None:
        from layerscope.engine.usecases.run_compare import compare_run_dirs

        comparison = compare_run_dirs(self.run_dirs)
        if not get_current_worker().is_cancelled:
            self.post_message(RunsCompared(comparison))

    @on(RunsCompared)
    def runs_compared(self, message: RunsCompared) -> None:
        comparison = self.comparison = message.comparison
        shown = comparison.to_dict()
        if shown == self._shown:
            return  # nothing new: keep the table's cursor and the drawings as they are
        self._shown = shown
        loss, metric = plotted_metrics(comparison)
        for plot, name in ((self.loss_plot, loss), (self.metric_plot, metric)):
            series = [
                (label, [(epoch + 1, v) for epoch, v in run.series.get(name or "", [])])
                for label, run in zip(self.labels, comparison.runs, strict=True)
            ]  # epochs from 1, as people count them
            plot.show(name, series, "" if name else "No run has finished an epoch yet.")
        rows = param_rows(comparison)
        if rows != self.params.rows_given:
            self.params.show(self.labels, rows)  # rebuilt only when a value changed

    @on(Worker.StateChanged)
    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        failure = report_failure(self, event)
        if failure is not None:
            self.following = False  # one notification, not one every few seconds; r tries again
            for plot in (self.loss_plot, self.metric_plot):
                plot.show(None, [], f"Could not compare: {failure.text}")

    # -- actions -------------------------------------------------------------------------------
    def action_differing_only(self) -> None:
        self.params.toggle_differing()

    def action_refresh(self) -> None:
        self.following = True
        self.read_runs()

    def action_back(self) -> None:
        self.app.pop_screen()
