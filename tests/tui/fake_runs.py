"""Fake run folders for the Train/Runs screen tests: fixed events and times, no training.

A "running" fake run has a real process behind its ``run.pid``: a sleeper whose command line
names ``layerscope.engine.training.process`` (that is how the engine tells a run's process from a recycled
pid) and which, like a real run, writes a ``stopped`` event when it gets SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

T0 = 1_795_600_000.0  # 2026-11-25 09:46:40 UTC: every fake event time counts from here
CONFIG = "name: fake\nmodel: {arch: smallcnn}\n"

SLEEPER = """
import json, signal, sys, time
events = sys.argv[1]
def stop(*_):
    with open(events, "a") as fh:
        fh.write(json.dumps({"event": "stopped", "time": time.time(), "epochs_done": 1}) + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
time.sleep(600)
"""


def progress(epoch: int, step: int, loss: float, t: float, total: int = 8) -> dict[str, Any]:
    return {
        "event": "progress", "time": T0 + t, "epoch": epoch, "step": step, "total_steps": total,
        "loss": loss, "lr": 0.003, "samples_per_sec": 250.0, "elapsed_s": t - 1, "eta_s": 8 - t,
    }  # fmt: skip


def epoch_end(epoch: int, t: float, train_loss: float, val_loss: float, val_acc: float) -> dict:
    metrics = {"train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc}
    step = 4 * (epoch + 1)
    return {"event": "epoch", "time": T0 + t, "epoch": epoch, "step": step, "metrics": metrics}


def started(t: float = 0.0, max_epochs: int = 2) -> dict[str, Any]:
    return {
        "event": "started", "time": T0 + t, "run": "fake", "pid": 1, "max_epochs": max_epochs,
        "total_steps": 4 * max_epochs, "world_size": 1, "epoch": 0, "step": 0,
    }  # fmt: skip


def finished_events() -> list[dict[str, Any]]:
    """A whole two-epoch run."""
    return [
        started(),
        progress(0, 2, 2.1, 1),
        progress(0, 4, 1.6, 2),
        epoch_end(0, 3, 1.8, 1.2, 0.62),
        {"event": "checkpoint", "time": T0 + 3, "kind": "last", "path": "/x/last.ckpt", "epoch": 0},
        progress(1, 6, 0.9, 4),
        progress(1, 8, 0.5, 5),
        epoch_end(1, 6, 0.7, 0.45, 0.88),
        {"event": "finished", "time": T0 + 7, "epochs_done": 2, "metrics": {"val_acc": 0.88}},
    ]


def make_run(root: Path, name: str, events: list[dict[str, Any]], second: int = 0) -> Path:
    """``root/20261125-0946<second>-<name>/`` with a config and ``events`` (no process)."""
    run_dir = root / f"20261125-0946{second:02d}-{name}"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(CONFIG)
    write_events(run_dir, events)
    return run_dir


def write_events(run_dir: Path, events: list[dict[str, Any]]) -> None:
    """Append ``events``, a whole line at a time (as the run's writer does)."""
    with (run_dir / "events.jsonl").open("a") as fh:
        for e in events:
            fh.write(json.dumps(e) + "\n")


class FakeProcess:
    """A process the engine takes for ``run_dir``'s training process (until it is ended)."""

    def __init__(self, run_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SLEEPER,
                str(run_dir / "events.jsonl"),
                "layerscope.engine.training.process",
            ]
        )
        (run_dir / "run.pid").write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the engine checks /proc/PID/cmdline
            cmdline = Path(f"/proc/{self.proc.pid}/cmdline")
            if (
                not cmdline.exists()
                or b"layerscope.engine.training.process" in cmdline.read_bytes()
            ):
                break
            time.sleep(0.02)
        time.sleep(0.3)  # until the SIGTERM handler is installed

    def end(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Pause until ``condition()`` holds (tail workers never go idle, so wait_idle cannot)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause()
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s")
