"""Run actions shared by the Train and Runs screens; called from their thread workers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.screen import Screen

from layerscope.tui.log import logger


def ask_run_to_stop(app: App, run_dir: Path) -> bool:
    """Ask the engine to stop ``run_dir`` gracefully and tell the user; False if it was not running."""
    from layerscope.engine.training.runs import stop_run

    if stop_run(run_dir):
        logger.info("Asked run {} to stop (it saves last.ckpt first)", run_dir.name)
        app.call_from_thread(
            app.notify, f"Stopping {run_dir.name}: it saves last.ckpt first.", title="Stop"
        )
        return True
    app.call_from_thread(app.notify, f"{run_dir.name} is not running.", severity="warning")
    return False


def confirm_stop(screen: Screen, run_dir: Path, stop: Callable[[Path], object]) -> None:
    """Ask once, then ``stop(run_dir)``: a stop cannot be taken back (resume starts again from
    last.ckpt)."""
    from layerscope.tui.screens.confirm import Confirm

    def answered(yes: bool | None) -> None:
        if yes:
            stop(run_dir)

    question = f"Stop {run_dir.name}? It saves last.ckpt and ends; e on the Runs screen resumes it."
    screen.app.push_screen(Confirm(question, "Stop the run"), answered)
