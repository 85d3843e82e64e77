"""The Train screen by keys: the form, its inline errors, a real tiny run, and live streaming."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from fake_runs import (
    FakeProcess,
    epoch_end,
    finished_events,
    make_run,
    progress,
    started,
    wait_for,
    write_events,
)
from pilot_helpers import settle
from textual.pilot import Pilot
from textual.widgets import Input, Select

from layerscope.tui.navigation import show_train
from layerscope.tui.screens.train import TrainScreen
from layerscope.tui.widgets.run_curves import RunCurves
from layerscope.tui.widgets.train_form import check_field

SIZE = (120, 40)
REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TINY = """\
name: tiny
model: {arch: smallcnn}
data: {kind: digits, batch_size: 32, max_samples: 192}
optimizer: {name: adam, lr: 0.01}
trainer: {max_epochs: 1, accelerator: cpu, devices: 1, limit_val_batches: 2}
logging: {progress_every: 2, grad_norm_every: 0, artifacts: false}
export: {onnx: false}
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in a fresh folder with the shipped configs and ``runs/`` as the runs folder (relative
    paths, UTC clock: what the screen shows does not depend on the machine)."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO_CONFIGS, tmp_path / "configs")
    monkeypatch.setenv("LAYERSCOPE_RUNS", "runs")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the run's process: 2 shared cores
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    return tmp_path


def train(app) -> TrainScreen:
    assert isinstance(app.screen, TrainScreen), type(app.screen)
    return app.screen


def lines_of(screen: TrainScreen) -> list[str]:
    return screen.log_pane.lines_text


def field(app, name: str) -> str:
    return app.screen.query_one(f"#{name}", Input).value


def test_check_field() -> None:
    assert check_field("lr", "0.01") is None and check_field("lr", "1e-3") is None
    assert check_field("lr", "abc") == "a number such as 0.001, not 'abc'"
    assert check_field("lr", "0") == "must be greater than 0"
    assert (
        check_field("epochs", "0") and check_field("batch", "x") and not check_field("batch", "8")
    )
    assert all(check_field("devices", v) is None for v in ("auto", "1", "2", "-1", "0,1"))
    assert check_field("devices", "two") is not None
    assert check_field("devices", "301") == "at most 64 per node"  # a typo, not 301 processes
    assert "on CPU here" in check_field("devices", "100000", accelerator="cpu")
    assert check_field("name", "my run") is not None and check_field("name", "") is None


async def test_t_opens_the_form_filled_from_the_quick_recipe(
    here: Path, model_dir, make_app
) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await wait_for(pilot, lambda: field(app, "lr") != "")
        screen = train(app)
        assert screen.query_one("#config", Select).value == Path("configs/resnet8_digits.yaml")
        assert screen.query_one("#optimizer", Select).value == "adam"
        values = {name: field(app, name) for name in ("lr", "epochs", "batch", "devices")}
        assert values == {"lr": "0.003", "epochs": "5", "batch": "64", "devices": "1"}
        assert screen.query_one("#lr", Input).has_focus
        await pilot.press("escape")  # back to the inspector
        await pilot.pause()
        assert not isinstance(app.screen, TrainScreen)


async def test_bad_learning_rate_shows_inline_and_launches_nothing(
    here: Path, model_dir, make_app
) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await wait_for(pilot, lambda: field(app, "lr") != "")
        await pilot.press("end", "ctrl+u", *"-0.1")
        error = app.screen.query_one("#lr-error")
        assert error.display and "must be greater than 0" in str(error.render())
        await pilot.press("down", "end", "ctrl+u", *"abc")  # epochs: a word
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert not (here / "runs").exists()
        assert app.screen.query_one("#lr", Input).has_focus  # the first bad field
        assert set(app.screen.query_one("#form").errors) == {"lr", "epochs"}
        await pilot.press("ctrl+u", *"0.01")
        assert not app.screen.query_one("#lr-error").display


async def test_launch_a_tiny_run_and_watch_it_finish(here: Path, model_dir, make_app) -> None:
    shutil.rmtree(here / "configs")
    (here / "configs").mkdir()
    (here / "configs" / "tiny.yaml").write_text(TINY)
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await wait_for(pilot, lambda: field(app, "lr") == "0.01")
        await pilot.press("end", "ctrl+u", *"0.02", "ctrl+l")
        screen = train(app)
        await wait_for(pilot, lambda: screen.run is not None)
        assert screen.status.status_text == "starting"
        await wait_for(pilot, lambda: screen.status.status_text == "finished", timeout=240)
        lines = screen.log_pane.lines_text
        assert any(" launched " in line for line in lines)
        assert any(" epoch 1/1 step 2/" in line and " loss " in line for line in lines)
        assert any(" epoch 1/1 done: train_loss " in line for line in lines)
        # train.log has its own tail, which may deliver a moment after the final event
        await wait_for(pilot, lambda: any("-tiny (start) pid" in x for x in lines_of(screen)))
        assert screen.run.history and "val_acc" in screen.run.history[0]
        (run_dir,) = (here / "runs").iterdir()
        assert "lr: 0.02" in (run_dir / "config.yaml").read_text()  # the form's value was used
        assert any("finished" in n.message for n in app._notifications)


async def test_follow_streams_new_events_live(here: Path, model_dir, make_app) -> None:
    run_dir = make_run(here / "runs", "live", [started()])
    proc = FakeProcess(run_dir)
    try:
        app = make_app(model_dir)
        async with app.run_test(size=SIZE) as pilot:
            show_train(app, follow=run_dir)
            await wait_for(pilot, lambda: train(app).status.status_text == "running")
            screen = train(app)
            write_events(run_dir, [progress(0, 2, 2.25, 1)])
            await wait_for(pilot, lambda: any("step 2/8" in x for x in screen.log_pane.lines_text))
            assert screen.run.loss == 2.25 and screen.run.eta == 7
            write_events(run_dir, [epoch_end(0, 3, 1.8, 1.2, 0.62)])
            await wait_for(pilot, lambda: len(screen.query_one(RunCurves).history) == 1)
            assert screen.run.best_acc == 0.62
            await pilot.press("ctrl+t", "y")  # stop (confirmed): the fake writes "stopped"
            await wait_for(pilot, lambda: screen.status.status_text == "stopped")
    finally:
        proc.end()


async def test_replaying_a_finished_run(here: Path, model_dir, make_app) -> None:
    run_dir = make_run(here / "runs", "done", finished_events())
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        show_train(app, follow=run_dir)
        screen = train(app)
        await wait_for(pilot, lambda: screen.status.status_text == "finished")
        assert [h["val_acc"] for h in screen.query_one(RunCurves).history] == [0.62, 0.88]
        assert screen.log_pane.lines_text[-1].startswith("09:46:47 run finished")
        assert "09:46:43 saved last checkpoint last.ckpt" in screen.log_pane.lines_text


async def test_a_broken_config_is_a_notification(here: Path, model_dir, make_app) -> None:
    (here / "configs" / "aaa_broken.yaml").write_text("optimizer: {name: lion}\n")
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await wait_for(pilot, lambda: field(app, "lr") != "")  # the quick recipe comes first
        await pilot.press("shift+tab", "shift+tab")  # up to the config list
        assert app.screen.query_one("#config", Select).has_focus
        await pilot.press("enter", "down", "enter")  # the next one: aaa_broken
        await settle(pilot)
        assert app.screen.query_one("#config", Select).value == Path("configs/aaa_broken.yaml")
        assert isinstance(app.screen, TrainScreen)
        messages = [n.message for n in app._notifications]
        assert any("optimizer.name is 'lion'; allowed: adam, adamw, sgd" in m for m in messages)
        assert any("allowed: adam, adamw, sgd" in x for x in lines_of(app.screen))


class TestTrainSnapshots:
    def test_form(self, snap_compare, here: Path, model_dir, make_app) -> None:
        async def run_before(pilot: Pilot) -> None:
            await pilot.press("t")
            await settle(pilot)

        assert snap_compare(make_app(model_dir), terminal_size=SIZE, run_before=run_before)

    def test_finished_run(self, snap_compare, here: Path, model_dir, make_app) -> None:
        run_dir = make_run(Path("runs"), "done", finished_events())

        async def run_before(pilot: Pilot) -> None:
            show_train(pilot.app, follow=run_dir)
            await settle(pilot)

        assert snap_compare(make_app(model_dir), terminal_size=SIZE, run_before=run_before)

    def test_small_terminal(self, snap_compare, here: Path, model_dir, make_app) -> None:
        run_dir = make_run(Path("runs"), "done", finished_events())

        async def run_before(pilot: Pilot) -> None:
            show_train(pilot.app, follow=run_dir)
            await settle(pilot)

        assert snap_compare(make_app(model_dir), terminal_size=(80, 24), run_before=run_before)
