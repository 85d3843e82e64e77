"""Run actions shared by the Train and Runs screens; called from their thread workers."""

from __future__ import annotations

from pathlib import Path

from loguru import logger
from textual.app import App


def ask_run_to_stop(app: App, run_dir: Path) -> bool:
    """Ask the engine to stop ``run_dir`` gracefully and tell the user; False if it was not running."""
    from engine.training.runs import stop_run

    if stop_run(run_dir):
        logger.info("Asked run {} to stop (it saves last.ckpt first)", run_dir.name)
        app.call_from_thread(
            app.notify, f"Stopping {run_dir.name}: it saves last.ckpt first.", title="Stop"
        )
        return True
    app.call_from_thread(app.notify, f"{run_dir.name} is not running.", severity="warning")
    return False
