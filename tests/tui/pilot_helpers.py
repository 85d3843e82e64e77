"""Pilot helpers shared by the TUI tests (a uniquely named module: test files import it directly,
which a conftest.py cannot offer reliably when several test folders each have one)."""

from __future__ import annotations

import time

from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerFailed, WorkerState


async def wait_idle(pilot: Pilot, timeout: float = 60.0) -> None:
    """Wait until no worker is pending or running and the messages they posted are handled."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        try:
            await app.workers.wait_for_complete()
        except WorkerFailed:  # a failed worker is the app's to report; tests check the report
            pass
        await pilot.pause()
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers)
        quiet = 0 if busy else quiet + 1
        if quiet >= 3:  # a handled message may start another worker: make sure none did
            return
    raise AssertionError("workers still running after timeout")


async def settle(pilot: Pilot) -> None:
    """For snapshots: idle workers, no blinking cursors."""
    await wait_idle(pilot)
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()
