"""The Runs screen by keys: statuses, re-attaching, stopping, and opening a run's files."""

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
from pilot_helpers import settle, wait_idle
from textual.pilot import Pilot

from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.screens.runs import RunsScreen
from layerscope.tui.screens.train import TrainScreen
from layerscope.tui.widgets.run_table import RunTable

SIZE = (120, 40)


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``runs/`` under a fresh working folder: one finished, one failed, one killed run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAYERSCOPE_RUNS", "runs")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = Path("runs")
    make_run(root, "adam", finished_events(), second=0)
    crash = {"event": "failed", "time": 1_795_600_100.0, "error": "RuntimeError: out of memory"}
    make_run(root, "sgd", [started(), progress(0, 2, 2.3, 1), crash], second=1)
    make_run(root, "killed", [started(), progress(0, 2, 2.3, 1)], second=2)  # no final event
    return root


def table_rows(app) -> list[tuple[str, str, str, str]]:
    table = app.screen.query_one(RunTable)
    return [tuple(str(c) for c in table.get_row_at(i)[:4]) for i in range(table.row_count)]


async def open_runs(pilot: Pilot, count: int) -> RunsScreen:
    await pilot.press("R")
    await wait_for(pilot, lambda: pilot.app.screen.query_one(RunTable).row_count == count)
    assert isinstance(pilot.app.screen, RunsScreen)
    return pilot.app.screen


async def select_run(pilot: Pilot, name_part: str) -> None:
    table = pilot.app.screen.query_one(RunTable)
    for key in ("down", "up"):
        for _ in range(table.row_count):
            if name_part in table.current.name:
                return
            await pilot.press(key)
    raise AssertionError(f"no run named like {name_part}")


async def test_list_shows_each_runs_status(runs: Path, model_dir, make_app) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await open_runs(pilot, 3)
        assert table_rows(app) == [  # newest first
            ("20261125-094602-killed", "failed", "—", "—"),
            ("20261125-094601-sgd", "failed", "—", "—"),
            ("20261125-094600-adam", "finished", "2/2", "0.8800"),
        ]
        detail = str(app.screen.query_one("#run-detail").render())
        assert "exited without a final event" in detail
        await pilot.press("down")
        assert "RuntimeError: out of memory" in str(app.screen.query_one("#run-detail").render())


async def test_enter_reattaches_to_a_running_run(runs: Path, model_dir, make_app) -> None:
    run_dir = make_run(runs, "live", [started(), progress(0, 2, 2.1, 1)], second=3)
    proc = FakeProcess(run_dir)
    try:
        app = make_app(model_dir)
        async with app.run_test(size=SIZE) as pilot:
            await open_runs(pilot, 4)
            assert table_rows(app)[0][:2] == ("20261125-094603-live", "running")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen))
            screen: TrainScreen = app.screen  # type: ignore[assignment]
            await wait_for(pilot, lambda: screen.run is not None and screen.run.loss == 2.1)
            assert screen.status.status_text == "running"
            write_events(run_dir, [epoch_end(0, 3, 1.8, 1.2, 0.7)])  # arrives live
            await wait_for(pilot, lambda: screen.run.best_acc == 0.7)
            await pilot.press("ctrl+r")  # back to the list: one Runs screen, not a pile
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
            assert len(app.screen_stack) == 2
    finally:
        proc.end()


async def test_stop_a_run_from_the_list(runs: Path, model_dir, make_app) -> None:
    run_dir = make_run(runs, "live", [started()], second=3)
    proc = FakeProcess(run_dir)
    try:
        app = make_app(model_dir)
        async with app.run_test(size=SIZE) as pilot:
            await open_runs(pilot, 4)
            await select_run(pilot, "live")
            await pilot.press("s", "y")  # asks once first (issue 17)
            await wait_for(pilot, lambda: table_rows(app)[0][1] == "stopped", timeout=20)
            assert (run_dir / "STOP").exists()  # the graceful way: the run saves last.ckpt
            await pilot.press("s")  # not running any more: says so, changes nothing
            await pilot.pause()
            assert table_rows(app)[0][1] == "stopped"
    finally:
        proc.end()


async def test_m_and_c_open_the_runs_model_in_the_inspector(
    runs: Path, model_dir, make_app
) -> None:
    run_dir = next(runs.glob("*-adam"))
    shutil.copy(model_dir / "smallcnn.onnx", run_dir / "model.onnx")
    shutil.copy(model_dir / "smallcnn.pt", run_dir / "last.ckpt")
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await open_runs(pilot, 3)
        await select_run(pilot, "adam")
        await pilot.press("m")
        await wait_idle(pilot)
        inspector = app.screen
        assert isinstance(inspector, InspectorScreen)
        assert inspector.model is not None and inspector.model.path == run_dir / "model.onnx"
        assert inspector.picker.folder == run_dir  # the run's files are in the picker
        await open_runs(pilot, 3)
        await select_run(pilot, "adam")
        await pilot.press("c")
        await wait_idle(pilot)
        assert app.screen.model.path == run_dir / "last.ckpt"
        await open_runs(pilot, 3)
        await select_run(pilot, "sgd")
        await pilot.press("m")  # no model.onnx: a warning, and the list stays
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        assert any("has no model.onnx" in n.message for n in app._notifications)


async def test_images_without_a_desktop_say_where_they_are(
    runs: Path, model_dir, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    run_dir = next(runs.glob("*-adam"))
    (run_dir / "epoch_001").mkdir()
    (run_dir / "epoch_001" / "confusion_matrix.png").write_bytes(b"\x89PNG")
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await open_runs(pilot, 3)
        await select_run(pilot, "adam")
        await pilot.press("v")
        await wait_idle(pilot)
        messages = [n.message for n in app._notifications]
        assert any(str(run_dir / "epoch_001" / "confusion_matrix.png") in m for m in messages)
        # Issue 17: without a viewer the matrix and curves are drawn in the terminal
        # (tests/tui/test_newcomer_b_plots.py checks the drawing).
        assert type(app.screen).__name__ == "RunPlots"


class TestRunsSnapshots:
    def test_list(self, snap_compare, runs: Path, model_dir, make_app) -> None:
        async def run_before(pilot: Pilot) -> None:
            await pilot.press("R")
            await settle(pilot)

        assert snap_compare(make_app(model_dir), terminal_size=SIZE, run_before=run_before)

    def test_small_terminal(self, snap_compare, runs: Path, model_dir, make_app) -> None:
        async def run_before(pilot: Pilot) -> None:
            await pilot.press("R")
            await settle(pilot)

        assert snap_compare(make_app(model_dir), terminal_size=(80, 24), run_before=run_before)


async def test_e_resumes_a_stopped_run_and_follows_it(
    runs: Path, model_dir, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    from layerscope.engine.training import runs as engine_runs

    stopped = {"event": "stopped", "time": 1_795_600_010.0, "epochs_done": 1}
    run_dir = make_run(runs, "paused", [started(), epoch_end(0, 3, 1.8, 1.2, 0.6), stopped], 3)
    resumed: list[Path] = []

    def fake_resume(path: Path, overrides=None):  # the real one starts a training process
        resumed.append(Path(path))
        return engine_runs.RunHandle(Path(path), 0)

    monkeypatch.setattr(engine_runs, "resume_run", fake_resume)
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await open_runs(pilot, 4)
        assert table_rows(app)[0][:2] == ("20261125-094603-paused", "stopped")
        await pilot.press("e")  # no last.ckpt yet: says so, resumes nothing
        await pilot.pause()
        assert resumed == [] and any(
            "checkpoint to resume" in n.message for n in app._notifications
        )
        (run_dir / "last.ckpt").write_bytes(b"")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen))
        assert [p.name for p in resumed] == [run_dir.name]
        assert app.screen.run.run_dir.name == run_dir.name
        await open_runs(pilot, 4)
        await select_run(pilot, "adam")  # finished: nothing to resume, the key is hidden
        assert app.screen.check_action("resume", ()) is False


async def test_palette_reaches_training_from_the_inspector_and_offers_what_applies(
    runs: Path, model_dir, make_app
) -> None:
    from layerscope.tui.commands import LayerscopeCommands

    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("ctrl+p", *"runs: list")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
        await wait_for(pilot, lambda: app.screen.query_one(RunTable).row_count == 3)
        titles = [t for t, _, _ in LayerscopeCommands(app.screen)._available()]
        assert "runs: inspect model.onnx" in titles and "runs: stop" not in titles  # not running
        await pilot.press("ctrl+p", *"new run")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen))
        titles = [t for t, _, _ in LayerscopeCommands(app.screen)._available()]
        assert "train: launch" in titles and "runs: stop" not in titles  # no run followed


@pytest.mark.parametrize("width", [80, 120])
async def test_the_files_line_breaks_between_files_never_inside_one(
    runs: Path, model_dir, make_app, width: int
) -> None:
    """At 80 columns the files wrap: each line starts with a file's mark, so a key ("v") is
    never left at a line's end apart from its file's name."""
    app = make_app(model_dir)
    async with app.run_test(size=(width, 30)) as pilot:
        await open_runs(pilot, 3)
        await select_run(pilot, "adam")  # finished: no error line under its files
        await pilot.pause()
        detail = app.screen.query_one("#run-detail")
        lines = str(detail.render()).splitlines()[1:]  # after the run's folder
        assert lines, "no files line"
        inner = detail.content_region.width
        for line in lines:
            assert line[:1] in ("✓", "·"), lines
            assert len(line) <= inner, (len(line), inner, lines)
        items = [i for line in lines for i in line.split("   ") if i]
        assert any(i.endswith("confusion_matrix.png") and i[2] == "v" for i in items), items
        assert (len(lines) > 1) == (width == 80), lines
