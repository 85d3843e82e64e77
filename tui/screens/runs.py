"""The Runs screen: every run in the runs folder with its status; follow, stop, open, inspect.

Listing reads each run's ``events.jsonl`` (``layerscope.engine.usecases.runs.RunLister``), so it happens in
a worker and again every few seconds while the screen shows, to keep statuses current; a run's
checkpoint and artefacts come from ``layerscope.engine.usecases.runs.run_files``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, get_current_worker

from layerscope.tui.keys import RUNS_KEYS
from layerscope.tui.log import logger
from layerscope.tui.messages import (
    OpenInInspector,
    RunsListed,
    ShowHealth,
    ShowRunCompare,
    ShowTrain,
)
from layerscope.tui.run_actions import ask_run_to_stop, confirm_stop
from layerscope.tui.widgets.run_table import RunTable
from layerscope.tui.workers import report_failure

REFRESH_S = 2.0


def _files(run_dir: str | Path) -> Any:
    """The run's checkpoint and artefacts (``layerscope.engine.usecases.runs.RunFiles``; stat calls only)."""
    from layerscope.engine.usecases.runs import run_files

    return run_files(run_dir)


def system_viewer() -> str | None:
    """The command that opens a file in the desktop's viewer, if there is a desktop to show it."""
    if sys.platform == "darwin":
        return shutil.which("open")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None  # over plain SSH xdg-open would fail or open a text browser in the terminal
    return shutil.which("xdg-open")


class RunsScreen(Screen):
    """The runs table and a line about the highlighted run's files."""

    BINDINGS = RUNS_KEYS
    PALETTE = [  # (title, action, help) for layerscope.tui.commands; check_action filters them
        ("runs: open", "open_run", "Follow the run, or replay a finished one (Enter)"),
        ("runs: stop", "stop", "Stop the run gracefully; it saves last.ckpt first (s)"),
        ("runs: resume", "resume", "Continue a stopped or failed run from last.ckpt (e)"),
        ("runs: inspect model.onnx", "inspect_model", "Open model.onnx in the inspector (m)"),
        ("runs: inspect checkpoint", "inspect_checkpoint", "Open last.ckpt in the inspector (c)"),
        ("runs: view confusion matrix", "view_confusion", "Latest confusion matrix PNG (v)"),
        ("runs: view curves", "view_curves", "Loss and accuracy PNGs (p)"),
        ("runs: mark for compare", "mark", "Mark or unmark the run (space)"),
        ("runs: compare marked", "compare_runs", "Overlaid curves and hyperparameters (d)"),
        ("runs: layer health", "health", "Layers x steps heatmap and alerts of the run (h)"),
        ("runs: refresh", "refresh", "Read the runs folder again (r)"),
        ("train: new run", "new_run", "The Train screen (n)"),
        ("runs: back to the inspector", "back", "Escape"),
    ]
    DEFAULT_CSS = """
    RunsScreen RunTable {
        border: round $accent;
        border-title-color: $accent;
    }
    RunsScreen #run-detail {
        height: auto;
        max-height: 8;
        border: round $panel;
        border-title-color: $text-muted;
        padding: 0 1;
    }
    """

    def __init__(self, runs_dir: Path | None = None) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self._lister: Any = (
            None  # layerscope.engine.usecases.runs.RunLister, made in the first worker
        )

    def compose(self) -> ComposeResult:
        yield Header(icon="◈")
        yield RunTable(id="runs")
        detail = Static(id="run-detail")
        detail.border_title = "Files"
        yield detail
        yield Footer()

    @property
    def table(self) -> RunTable:
        return self.query_one(RunTable)

    @property
    def root(self) -> Path:
        from layerscope.engine.training.runs import default_runs_dir  # light: no torch

        return self.runs_dir or default_runs_dir()

    def on_mount(self) -> None:
        self.sub_title = f"Runs · {self.root}"
        self.table.focus()
        self.list_runs()
        self._timer = self.set_interval(REFRESH_S, self.list_runs)

    def on_resize(self) -> None:
        self.query_one(Footer).compact = self.size.width < 100
        if self.is_mounted and self.table.current is not None:
            self.show_detail()  # its lines are packed to the width

    def on_screen_suspend(self) -> None:
        self._timer.pause()  # nobody is looking: no need to read every run's events

    def on_screen_resume(self) -> None:
        self._timer.resume()
        self.list_runs()

    # -- workers -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="runs", exit_on_error=False, description="list runs")
    def list_runs(self) -> None:
        from layerscope.engine.usecases.runs import RunLister

        root = self.root
        if self._lister is None or self._lister.root != root:
            self._lister = RunLister(root)  # rereads only live or changed runs
        runs = self._lister.list()
        if not get_current_worker().is_cancelled:
            self.post_message(RunsListed(root, runs))

    @work(thread=True, exclusive=True, group="stop", exit_on_error=False, description="stop run")
    def stop_run(self, run_dir: Path) -> None:
        ask_run_to_stop(self.app, run_dir)
        self.app.call_from_thread(self.list_runs)

    @work(thread=True, exclusive=True, group="resume", exit_on_error=False, description="resume")
    def resume_run(self, run_dir: Path) -> None:
        from layerscope.engine.training.runs import resume_run

        handle = resume_run(run_dir)  # refuses a running run or one without last.ckpt
        logger.info("Resumed run {} from last.ckpt (pid {})", run_dir.name, handle.pid)
        self.post_message(ShowTrain(follow=handle.run_dir))

    @work(thread=True, group="viewer", exit_on_error=False, description="open file")
    def open_files(self, paths: list[Path]) -> None:
        viewer = system_viewer()
        if viewer is None:
            where = ", ".join(str(p) for p in paths)
            msg = f"No desktop viewer here (xdg-open/open, DISPLAY); the file is at {where}"
            logger.info("{}", msg)
            self.app.call_from_thread(self.notify, msg, title="Open it yourself", timeout=15)
            return
        for path in paths:
            subprocess.Popen(
                [viewer, str(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # the viewer outlives the app, like the run does
            )
            logger.info("Opened {} with {}", path, Path(viewer).name)

    # -- results -------------------------------------------------------------------------------
    @on(RunsListed)
    def runs_listed(self, message: RunsListed) -> None:
        self.table.show(message.runs)
        if not message.runs:
            self.query_one("#run-detail", Static).update(
                Text(f"No runs in {message.runs_dir} yet: press n for a new run.", "dim")
            )
        else:
            self.show_detail()
        self.refresh_bindings()

    @on(DataTable.RowHighlighted)
    def row_highlighted(self) -> None:
        self.show_detail()
        self.refresh_bindings()

    @on(RunTable.MarksChanged)
    def marks_changed(self) -> None:
        self.refresh_bindings()  # d (compare) shows from two marks on

    @on(DataTable.RowSelected)
    def row_selected(self) -> None:
        self.action_open_run()

    def show_detail(self) -> None:
        """Which of the run's files exist (stat calls only: cheap enough for the UI thread)."""
        info = self.table.current
        detail = self.query_one("#run-detail", Static)
        if info is None:
            return
        from layerscope.engine.training.paths import LAST_CKPT  # file names only
        from layerscope.engine.usecases.runs import run_files

        run_dir = Path(info.path)
        files = run_files(run_dir)
        ckpt, cm = files.checkpoint, files.confusion_matrix
        have = {
            "m model.onnx": files.model_onnx is not None,
            f"c {ckpt.name if ckpt else LAST_CKPT}": ckpt is not None,
        }
        if files.task_metrics:  # a regression or a script's run: its metrics, no classes
            have["p loss/metrics.png"] = files.all_curves
        else:
            cm_label = f"v {cm.parent.name if cm else ''}/confusion_matrix.png"
            have[cm_label.replace(" /", " ")] = cm is not None
            have["p loss/accuracy.png"] = files.all_curves
        if files.samples is not None:  # the sample view: class grid or input/target/prediction
            have[f"{files.samples.parent.name}/samples.png"] = True
        # Each file comes with its key: the footer leaves v and p out, for room at 80 columns.
        text = Text(f"{run_dir}\n", "bold")
        # Lines are broken between files, never inside one (a key apart from its file's name).
        width = max(20, self.app.size.width - 4)  # the border and padding of #run-detail
        used = 0
        for label, ok in have.items():
            item = f"{'✓' if ok else '·'} {label}"
            if used and used + 3 + cell_len(item) > width:
                text.append("\n")
                used = 0
            elif used:
                text.append("   ")
                used += 3
            text.append(item, "green" if ok else "dim")
            used += cell_len(item)
        if info.error:
            text.append(f"\n{info.error}", "red")
        detail.update(text)

    # -- errors --------------------------------------------------------------------------------
    @on(Worker.StateChanged)
    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event)

    # -- actions -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        info = self.table.current if self.is_mounted else None
        if action == "stop":
            return info is not None and info.status == "running"
        if action in ("open_run", "inspect_model", "inspect_checkpoint", "health"):
            return info is not None
        if action in ("view_confusion", "view_curves"):
            return info is not None
        if action == "resume":
            return info is not None and info.status in ("stopped", "failed")
        if action == "mark":
            return info is not None
        if action == "compare_runs":
            return self.is_mounted and len(self.table.marked) >= 2
        return True

    def action_refresh(self) -> None:
        self.list_runs()

    def action_open_run(self) -> None:
        run_dir = self.table.current_dir
        if run_dir is not None:
            self.post_message(ShowTrain(follow=run_dir))

    def action_mark(self) -> None:
        self.table.action_toggle_mark()

    def action_compare_runs(self) -> None:
        marked = [Path(p) for p in self.table.marked]
        if len(marked) >= 2:
            self.post_message(ShowRunCompare(marked))

    def action_new_run(self) -> None:
        self.post_message(ShowTrain())

    def action_health(self) -> None:
        run_dir = self.table.current_dir
        if run_dir is not None:
            self.post_message(ShowHealth(run_dir))

    def action_stop(self) -> None:
        info = self.table.current
        if info is None:
            return
        if info.status != "running":
            self.notify(f"{info.name} is {info.status}, not running.", severity="warning")
            return
        confirm_stop(self, Path(info.path), self.stop_run)

    def action_resume(self) -> None:
        info = self.table.current
        if info is not None and self._need(_files(info.path).checkpoint, "checkpoint to resume"):
            self.resume_run(Path(info.path))

    def _need(self, path: Path | None, what: str) -> Path | None:
        info = self.table.current
        if path is None or not path.exists():
            when = (
                " yet (it is written when the run ends)"
                if info and info.status == "running"
                else ""
            )
            msg = f"{info.name if info else 'This run'} has no {what}{when}."
            self.notify(msg, title="Not there", severity="warning")
            logger.warning("{}", msg)
            return None
        return path

    def action_inspect_model(self) -> None:
        run_dir = self.table.current_dir
        if run_dir is not None and (path := self._need(_files(run_dir).model_onnx, "model.onnx")):
            self.post_message(OpenInInspector(path))

    def action_inspect_checkpoint(self) -> None:
        run_dir = self.table.current_dir
        if run_dir is not None and (path := self._need(_files(run_dir).checkpoint, "checkpoint")):
            self.post_message(OpenInInspector(path))

    def _draw_here(self, run_dir: Path, images: list[Path]) -> bool:
        """No image viewer (SSH): draw the run's confusion matrix and curves in the terminal,
        and say where the images are for a viewer elsewhere."""
        if system_viewer() is not None:
            return False
        from layerscope.tui.screens.run_plots import RunPlots

        self.app.push_screen(RunPlots(run_dir))
        if images:
            where = ", ".join(str(p) for p in images)
            self.notify(f"Drawn here (no desktop viewer); the images are at {where}", timeout=8)
        return True

    def action_view_confusion(self) -> None:
        run_dir = self.table.current_dir
        if run_dir is None:
            return
        png = _files(run_dir).confusion_matrix
        if not self._draw_here(run_dir, [png] if png else []):
            path = self._need(png, "confusion matrix")
            if path is not None:
                self.open_files([path])

    def action_view_curves(self) -> None:
        run_dir = self.table.current_dir
        if run_dir is None or self._draw_here(run_dir, _files(run_dir).curves):
            return
        paths = _files(run_dir).curves
        if self._need(paths[0] if paths else None, "loss/accuracy curves") is not None:
            self.open_files(paths)

    def action_back(self) -> None:
        self.app.pop_screen()
