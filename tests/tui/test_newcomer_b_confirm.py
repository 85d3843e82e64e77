"""Issue 17, missing: stopping a run, and quitting with one going, ask once first."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from fake_runs import FakeProcess, make_run, started, wait_for

from layerscope.tui.navigation import show_train
from layerscope.tui.screens.confirm import Confirm
from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.screens.train import TrainScreen

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO_CONFIGS, tmp_path / "configs")
    monkeypatch.setenv("LAYERSCOPE_RUNS", "runs")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    run_dir = make_run(tmp_path / "runs", "live", [started()])
    proc = FakeProcess(run_dir)
    yield run_dir
    proc.end()


async def test_quit_with_a_run_going_asks_once(live: Path, model_dir: Path, make_app) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = show_train(app, follow=live)
        await wait_for(pilot, lambda: screen.status.status_text == "running")
        await pilot.press("escape")  # back to the inspector; the run goes on
        await pilot.pause()
        assert isinstance(app.screen, InspectorScreen)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        assert live.name in app.screen.question
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, InspectorScreen) and app.return_code is None
        await pilot.press("q", "q")  # asked once: q again quits
        await pilot.pause()
        assert app.return_code == 0  # exit() was called


async def test_stop_asks_first(live: Path, model_dir: Path, make_app) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = show_train(app, follow=live)
        await wait_for(pilot, lambda: screen.status.status_text == "running")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        question = app.screen.query_one("#question")
        assert question.size.height >= 2  # wrapped at 80 columns, not cut off
        assert question.region.right <= 80
        await pilot.press("escape")  # no: nothing happens to the run
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
        assert not (live / "STOP").exists()
        assert screen.status.status_text == "running"
        await pilot.press("ctrl+t", "y")
        await wait_for(pilot, lambda: screen.status.status_text == "stopped")


async def test_quit_without_a_run_does_not_ask(model_dir: Path, make_app) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, Confirm)
