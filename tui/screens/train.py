"""The Train screen: a form that launches a run, and a live view of the run it follows.

The run is its own process (``layerscope.engine.training.runs.launch_run``); this screen only reads its
folder. Two thread workers tail ``events.jsonl`` and ``train.log`` and post messages, so closing
the screen or the app leaves the run going, and opening it again (from Runs) re-attaches.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import Worker, WorkerState, get_current_worker

from layerscope.tui.keys import TRAIN_KEYS
from layerscope.tui.log import logger
from layerscope.tui.messages import (
    ConfigLoaded,
    RunEvents,
    RunLaunched,
    RunLogLines,
    RunTailEnded,
    ShowHealth,
    ShowRuns,
)
from layerscope.tui.run_actions import ask_run_to_stop, confirm_stop
from layerscope.tui.widgets.run_curves import RunCurves
from layerscope.tui.widgets.run_log import RunLog, event_line
from layerscope.tui.widgets.run_status import RunState, RunStatus
from layerscope.tui.widgets.train_form import TrainForm
from layerscope.tui.workers import describe, report_failure

DEFAULT_CONFIG = "resnet8_digits"  # configs/README.md: about a minute on a laptop CPU
BATCH = 500  # lines per message while replaying what a run already wrote
LOG_GRACE_S = 1.0  # after a run's final event, its log is read this long more (5 polls)


def configs_dir() -> Path:
    """``./configs`` when it exists (a checkout), else the recipes shipped beside the engine."""
    here = Path("configs")
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "configs"


def list_configs(folder: Path) -> list[Path]:
    """The YAML recipes in ``folder``, the quick CPU recipe first (it runs anywhere), then by name."""
    if not folder.is_dir():
        return []
    found = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return sorted(found, key=lambda p: p.stem != DEFAULT_CONFIG)


def count_lines(path: Path) -> int:
    """Complete lines already in ``path`` (0 if it is missing): the replay part of a tail."""
    try:
        with path.open("rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return 0


class TrainScreen(Screen):
    """Form on the left; the followed run's status and curves on the right; its log below."""

    BINDINGS = TRAIN_KEYS
    PALETTE = [  # (title, action, help) for layerscope.tui.commands; check_action filters them
        ("train: launch", "launch", "Start a run with the form's values (ctrl+l)"),
        ("runs: stop", "stop", "Stop the followed run gracefully; it saves last.ckpt (ctrl+t)"),
        ("runs: list", "runs", "Every run with its status (ctrl+r)"),
        (
            "runs: layer health",
            "health",
            "The followed run's layers x steps heatmap and alerts (ctrl+g)",
        ),
        ("train: back to the inspector", "back", "The run keeps going (Escape)"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    DEFAULT_CSS = """
    TrainScreen #train-body {
        height: 3fr;
    }
    TrainScreen #form {
        width: 44;
        border: round $panel;
        border-title-color: $text-muted;
    }
    TrainScreen #form:focus-within {
        border: round $accent;
        border-title-color: $accent;
    }
    TrainScreen #run-status, TrainScreen #curves {
        border: round $panel;
        border-title-color: $text-muted;
    }
    TrainScreen #runlog {
        height: 2fr;
    }
    TrainScreen.-narrow #form {
        width: 40;
    }
    /* 24 rows: the form and status take what they need, the log the rest; curves hide. */
    TrainScreen.-short #train-body {
        height: auto;
    }
    TrainScreen.-short #monitor {
        height: auto;
    }
    TrainScreen.-short #curves {
        display: none;
    }
    TrainScreen.-short #runlog {
        height: 1fr;
    }
    TrainScreen.-short #summary {
        padding: 0;
    }
    """

    def __init__(self, runs_dir: Path | None = None, *, follow: Path | None = None) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.configs = list_configs(configs_dir())
        self.run: RunState | None = None
        self._follow_first = follow
        self._tail_stop = threading.Event()
        self._followed_at = 0.0
        self._process = None  # the Popen of a run launched here, polled so it leaves no zombie

    def compose(self) -> ComposeResult:
        yield Header(icon="◈")
        with Horizontal(id="train-body"):
            yield TrainForm(self.configs, id="form")
            with Vertical(id="monitor"):
                yield RunStatus(id="run-status")
                yield RunCurves(id="curves")
        yield RunLog(id="runlog")
        yield Footer()

    @property
    def form(self) -> TrainForm:
        return self.query_one(TrainForm)

    @property
    def status(self) -> RunStatus:
        return self.query_one(RunStatus)

    @property
    def log_pane(self) -> RunLog:
        return self.query_one(RunLog)

    @property
    def run_dir(self) -> Path | None:
        return self.run.run_dir if self.run is not None else None

    def on_mount(self) -> None:
        from layerscope.engine.training.runs import default_runs_dir  # light: no torch

        self.sub_title = "Train"
        self.status.hint += f" Runs are saved in {self.runs_dir or default_runs_dir()}/."
        if self.configs:
            self.read_config(self.configs[0])
        else:
            msg = f"No run configs in {configs_dir()}: add a YAML recipe there (see configs/README.md)."
            self.notify(msg, title="Nothing to train", severity="warning", timeout=10)
            logger.warning(msg)
        if self._follow_first is not None:
            self.follow(self._follow_first)
        else:
            # Now, not after a round trip through the app (focus()): the form's values come from
            # a worker, and a Focus handled after them would select the whole field.
            self.set_focus(self.query_one("#lr"))

    def on_resize(self) -> None:
        self.query_one(Footer).compact = self.size.width < 100

    def on_unmount(self) -> None:
        self._tail_stop.set()  # the tail threads end; the run itself goes on

    # -- following a run -----------------------------------------------------------------------
    def follow(self, run_dir: Path) -> None:
        """Show ``run_dir``: replay what it wrote, then stream what it writes."""
        run_dir = Path(run_dir)
        if run_dir == self.run_dir and any(
            w.group in ("tail-events", "tail-log") and w.is_running for w in self.workers
        ):
            return  # already following it
        self._tail_stop.set()
        self._tail_stop = threading.Event()
        self._followed_at = time.time()
        self.run = RunState(run_dir)
        self.status.show(self.run)
        self.query_one(RunCurves).show([], key=run_dir)
        self.log_pane.reset(f"Run log · {run_dir.name}")
        self.sub_title = f"Train · {run_dir.name}"
        self.tail_events(run_dir, self._tail_stop)
        self.tail_log(run_dir, self._tail_stop)
        self.refresh_bindings()

    # -- workers -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="config", exit_on_error=False, description="config")
    def read_config(self, path: Path) -> None:
        from layerscope.engine.training.config import load_config

        cfg = load_config(path)
        if not get_current_worker().is_cancelled:
            self.post_message(ConfigLoaded(path, cfg))

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False, description="launch")
    def launch_run(self, path: Path, overrides: list[str], name: str | None) -> None:
        from layerscope.engine.training.config import load_config
        from layerscope.engine.training.runs import default_runs_dir, launch_run

        cfg = load_config(path, overrides)  # the engine checks the whole config once more
        handle = launch_run(cfg, self.runs_dir or default_runs_dir(), name=name)
        self._process = handle.process
        logger.info("Launched run {} (pid {})", handle.run_dir.name, handle.pid)
        self.post_message(RunLaunched(handle.run_dir))

    @work(thread=True, exclusive=True, group="tail-events", exit_on_error=False, description="tail")
    def tail_events(self, run_dir: Path, stop: threading.Event) -> None:
        from layerscope.engine.training.events import tail_events
        from layerscope.engine.training.paths import EVENTS_FILE
        from layerscope.engine.training.runs import run_info

        worker = get_current_worker()
        backlog = count_lines(run_dir / EVENTS_FILE)  # replayed in batches, then one by one
        batch: list[dict] = []
        for i, event in enumerate(tail_events(run_dir, stop)):
            if worker.is_cancelled:
                return
            batch.append(event)
            if i + 1 >= backlog or len(batch) >= BATCH:
                self.post_message(RunEvents(run_dir, batch))
                batch = []
        if batch:
            self.post_message(RunEvents(run_dir, batch))
        if not stop.is_set() and not worker.is_cancelled:
            # The engine's verdict: a run killed without a final event shows as failed.
            self.post_message(RunTailEnded(run_dir, run_info(run_dir)))

    @work(thread=True, exclusive=True, group="tail-log", exit_on_error=False, description="log")
    def tail_log(self, run_dir: Path, stop: threading.Event) -> None:
        from layerscope.engine.training.events import tail_log
        from layerscope.engine.training.paths import LOG_FILE

        worker = get_current_worker()
        backlog = count_lines(run_dir / LOG_FILE)
        batch: list[str] = []
        for i, line in enumerate(tail_log(run_dir, stop)):
            if worker.is_cancelled:
                return
            batch.append(line)
            if i + 1 >= backlog or len(batch) >= BATCH:
                self.post_message(RunLogLines(run_dir, batch))
                batch = []
        if batch:
            self.post_message(RunLogLines(run_dir, batch))

    @work(thread=True, exclusive=True, group="stop", exit_on_error=False, description="stop")
    def stop_run(self, run_dir: Path) -> None:
        ask_run_to_stop(self.app, run_dir)

    # -- results -------------------------------------------------------------------------------
    @on(ConfigLoaded)
    def config_loaded(self, message: ConfigLoaded) -> None:
        if message.path == self.form.config_path:
            self.form.fill(message.config)

    @on(TrainForm.ConfigChosen)
    def config_chosen(self, message: TrainForm.ConfigChosen) -> None:
        self.read_config(message.path)

    @on(TrainForm.LaunchRequested)
    def launch_requested(self, message: TrainForm.LaunchRequested) -> None:
        if any(w.group == "launch" and w.is_running for w in self.workers):
            return  # one launch at a time: a double ctrl+l must not start two runs
        if self.run is not None and self.run.status in ("starting", "running"):
            # Allowed (a sweep is several runs), but on one machine they share its cores.
            self.notify(
                f"{self.run.run_dir.name} is still running; the new run runs alongside it.",
                severity="warning",
            )
        summary = self.form.launch_summary(message.config, message.name)
        self.notify(f"Starting {summary}", title="Launch")
        logger.info("Starting {}", summary)
        self.launch_run(message.config, message.overrides, message.name)

    @on(RunLaunched)
    def run_launched(self, message: RunLaunched) -> None:
        self.follow(message.run_dir)
        self.log_pane.add(
            f"launched {message.run_dir}; loading torch and Lightning (this takes a few seconds)…",
            "dim",
        )

    @on(RunEvents)
    def run_events(self, message: RunEvents) -> None:
        if self.run is None or message.run_dir != self.run.run_dir:
            return  # from a run this screen no longer follows
        epochs = len(self.run.history)
        for event in message.events:
            self.run.apply(event)
            line = event_line(event, self.run.max_epochs)
            self.log_pane.add_event_line(line, event.get("event", ""), event.get("time", 0.0))
        self.status.show(self.run)
        if len(self.run.history) != epochs:
            self.query_one(RunCurves).show(self.run.history, key=self.run.run_dir)
        self.refresh_bindings()

    @on(RunLogLines)
    def run_log_lines(self, message: RunLogLines) -> None:
        if self.run is not None and message.run_dir == self.run.run_dir:
            self.log_pane.add_log_lines(message.lines)

    @on(RunTailEnded)
    def run_tail_ended(self, message: RunTailEnded) -> None:
        if self.run is None or message.run_dir != self.run.run_dir:
            return
        info = message.info
        # The log tail follows while the run's process lives: a script's process (a notebook)
        # may outlive its run by hours. Once the last lines are read, it can stop.
        self.set_timer(LOG_GRACE_S, self._tail_stop.set)
        if self._process is not None:
            self._process.poll()  # reap the child if it was ours
        if info.status != self.run.status:  # e.g. killed before it could write a final event
            self.run.status, self.run.error = info.status, info.error
            self.log_pane.add(f"run {info.status}: {info.error or ''}".rstrip(": "), "bold red")
        self.status.show(self.run)
        self.refresh_bindings()
        if self.run.ended is not None and self.run.ended < self._followed_at:
            return  # it had ended before we looked: the status box says so, no need to shout
        best = (
            f" · best {info.best_metric} {info.best_value:.4f}"
            if info.best_value is not None
            else ""
        )
        severity = "error" if info.status == "failed" else "information"
        self.notify(f"{info.name} {info.status}{best}", title="Run ended", severity=severity)

    # -- errors --------------------------------------------------------------------------------
    @on(Worker.StateChanged)
    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        title = None
        error = event.worker.error
        launch_failed = event.state == WorkerState.ERROR and event.worker.group == "launch"
        if launch_failed and error is not None and self.form.error_for_key(describe(error)[1]):
            title = "Not launched"  # the form marks the field the engine refused
        failure = report_failure(self, event, title=title)
        if failure is not None:
            self.log_pane.add(f"{failure.title}: {failure.text}", "bold red")

    # -- actions -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.run is not None and self.run.status in ("starting", "running")
        if action == "health":
            return self.run is not None
        return True

    def action_launch(self) -> None:
        self.form.submit()

    def action_stop(self) -> None:
        if self.run is not None:
            confirm_stop(self, self.run.run_dir, self.stop_run)

    def action_runs(self) -> None:
        self.post_message(ShowRuns())

    def action_health(self) -> None:
        if self.run is not None:
            self.post_message(ShowHealth(self.run.run_dir))

    def action_back(self) -> None:
        self.app.pop_screen()
