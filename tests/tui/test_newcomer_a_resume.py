"""Issue 17, item 1: `e` on a stopped run resumes it, and a resume that dies at once says why.

The run's process is a stand-in (``layerscope.engine.training.runs.process_command`` is patched): it does
what ``layerscope.engine.training.process`` does with its argument (reads ``<arg>/config.yaml`` from the run
folder it starts in) without loading torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fake_runs import make_run, progress, started, wait_for
from textual.pilot import Pilot

from layerscope.engine.training import runs as engine_runs
from layerscope.tui.screens.runs import RunsScreen
from layerscope.tui.screens.train import TrainScreen
from layerscope.tui.widgets.run_log import RunLog
from layerscope.tui.widgets.run_table import RunTable

SIZE = (120, 40)

# Like layerscope.engine.training.process: the run folder is argv[1], the working folder is the run folder.
CHILD_OK = """
import json, sys, time
from pathlib import Path
run = Path(sys.argv[1])
if not (run / "config.yaml").is_file():
    print(f"ConfigError: config file not found: {(run / 'config.yaml').resolve()}")
    sys.exit(1)
(run / "run.launching").unlink(missing_ok=True)
with open(run / "events.jsonl", "a") as fh:
    for kind in ("resumed", "finished"):
        fh.write(json.dumps({"event": kind, "time": time.time(), "epoch": 1, "step": 8,
                             "max_epochs": 3, "pid": 1}) + "\\n")
"""
CHILD_DIES = "import sys; print('ImportError: no module named lightning_fake'); sys.exit(1)"


@pytest.fixture
def stopped_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stopped run with a last.ckpt under a relative ``runs`` folder (as ``./runs`` is)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAYERSCOPE_RUNS", "runs")
    stop = {"event": "stopped", "time": 1_795_600_010.0, "epoch": 0, "step": 4}
    run_dir = make_run(Path("runs"), "pausedrun", [started(), progress(0, 4, 1.1, 2), stop])
    (run_dir / "last.ckpt").write_bytes(b"not read by the stand-in")
    return run_dir


def fake_process(monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    monkeypatch.setattr(
        engine_runs,
        "process_command",
        lambda run_dir, resume: [sys.executable, "-c", script, str(run_dir), "--resume"],
    )


async def resume_from_list(pilot: Pilot) -> TrainScreen:
    await pilot.press("R")
    await wait_for(pilot, lambda: pilot.app.screen.query_one(RunTable).row_count == 1)
    assert isinstance(pilot.app.screen, RunsScreen)
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TrainScreen))
    return pilot.app.screen  # type: ignore[return-value]


async def test_resume_from_the_runs_list_starts_the_run(
    stopped_run: Path, model_dir: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_process(monkeypatch, CHILD_OK)
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await resume_from_list(pilot)
        await wait_for(pilot, lambda: screen.run is not None and screen.run.status == "finished")
    assert not (stopped_run / "runs").exists()  # no stray runs/ inside the run
    assert not (stopped_run / "run.launching").exists()


async def test_a_resume_that_dies_at_once_shows_failed_and_why(
    stopped_run: Path, model_dir: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_process(monkeypatch, CHILD_DIES)
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = await resume_from_list(pilot)
        await wait_for(pilot, lambda: screen.run is not None and screen.run.status == "failed")
        assert screen.status.status_text == "failed"
        log = "\n".join(screen.query_one(RunLog).lines_text)
        assert "ImportError: no module named lightning_fake" in log
        await pilot.press("ctrl+r")  # the list says so too
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        table = app.screen.query_one(RunTable)
        await wait_for(pilot, lambda: str(table.get_row_at(0)[1]) == "failed")


def test_running_run_shows_its_current_epoch(tmp_path: Path) -> None:
    """The Runs list's Epoch column: a running run in its first epoch is in epoch 1, not '—'."""
    from fake_runs import FakeProcess

    run_dir = make_run(tmp_path, "live", [started(max_epochs=3), progress(0, 2, 2.1, 1)])
    proc = FakeProcess(run_dir)
    try:
        info = engine_runs.run_info(run_dir)
        assert (info.status, info.epoch, info.max_epochs) == ("running", 0, 3)
    finally:
        proc.end()


def test_snapshot_runs_list_with_a_running_run_80x24(
    snap_compare, stopped_run: Path, model_dir: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Epoch column of a running run in its first epoch says 1/3, not an em dash."""
    from fake_runs import FakeProcess

    monkeypatch.setenv("TZ", "UTC")
    live = make_run(Path("runs"), "live", [started(max_epochs=3), progress(0, 2, 2.1, 1)], second=5)
    proc = FakeProcess(live)
    try:

        async def run_before(pilot: Pilot) -> None:
            await pilot.press("R")
            await wait_for(pilot, lambda: pilot.app.screen.query_one(RunTable).row_count == 2)
            await pilot.pause()

        assert snap_compare(make_app(model_dir), terminal_size=(80, 24), run_before=run_before)
    finally:
        proc.end()
