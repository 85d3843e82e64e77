"""Issue 17, missing: over SSH (no desktop viewer) v and p on the Runs screen draw the confusion
matrix and the curves in the terminal instead of printing "No desktop viewer here"."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fake_runs import finished_events, make_run, wait_for
from pilot_helpers import settle, wait_idle

from layerscope.engine.usecases.runs import epoch_history, read_confusion
from layerscope.tui.screens.run_plots import RunPlots
from layerscope.tui.screens.runs import RunsScreen
from layerscope.tui.widgets.run_curves import RunCurves
from layerscope.tui.widgets.run_table import RunTable

CLASSES = ["cat", "dog", "bird"]
MATRIX = [[5, 1, 0], [2, 7, 1], [0, 0, 9]]


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAYERSCOPE_RUNS", "runs")
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("DISPLAY", raising=False)  # as over SSH: no desktop viewer
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    time.tzset()
    run = make_run(Path("runs"), "adam", finished_events())
    for epoch, matrix in ((0, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]), (1, MATRIX)):
        folder = run / f"epoch_{epoch:03d}"
        folder.mkdir()
        doc = {"epoch": epoch, "classes": CLASSES, "matrix": matrix}
        (folder / "confusion_matrix.json").write_text(json.dumps(doc))
        (folder / "confusion_matrix.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return run


def test_the_newest_counts_are_read_even_before_their_picture_is_drawn(run_dir: Path) -> None:
    folder = run_dir / "epoch_002"
    folder.mkdir()
    newest = [[3, 0, 0], [0, 3, 0], [1, 0, 2]]
    doc = {"epoch": 2, "classes": CLASSES, "matrix": newest}
    (folder / "confusion_matrix.json").write_text(json.dumps(doc))  # no PNG (not drawn yet)
    confusion = read_confusion(run_dir)
    assert confusion is not None
    assert (confusion.epoch, confusion.matrix) == (2, newest)


def test_engine_reads_the_latest_confusion_and_the_history(run_dir: Path) -> None:
    confusion = read_confusion(run_dir)
    assert confusion is not None
    assert (confusion.epoch, confusion.classes, confusion.matrix) == (1, CLASSES, MATRIX)
    history = epoch_history(run_dir)
    assert [h["epoch"] for h in history] == [0, 1]
    assert history[1]["val_acc"] == 0.88


async def open_plots(pilot, key: str) -> RunPlots:
    await pilot.press("R")
    await wait_for(pilot, lambda: pilot.app.screen.query_one(RunTable).row_count == 1)
    assert isinstance(pilot.app.screen, RunsScreen)
    await pilot.press(key)
    await wait_idle(pilot)
    assert isinstance(pilot.app.screen, RunPlots), pilot.app.screen
    return pilot.app.screen


async def test_v_draws_the_confusion_matrix_in_the_terminal(
    run_dir: Path, model_dir: Path, make_app
) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        plots = await open_plots(pilot, "v")
        text = plots.confusion_text
        assert "epoch 2" in text  # people count epochs from 1
        for name in CLASSES:
            assert name in text
        assert "7" in text and "9" in text
        assert not any("No desktop viewer" in n.message for n in app._notifications)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_p_draws_the_curves_in_the_terminal(run_dir: Path, model_dir: Path, make_app) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        plots = await open_plots(pilot, "p")
        curves = plots.query_one(RunCurves)
        assert [h["epoch"] for h in curves.history] == [0, 1]


def test_snapshot_plots_80x24(run_dir: Path, model_dir: Path, make_app, snap_compare) -> None:
    async def run_before(pilot) -> None:
        await pilot.press("R")
        await wait_for(pilot, lambda: pilot.app.screen.query_one(RunTable).row_count == 1)
        await pilot.press("v")
        await settle(pilot)

    assert snap_compare(make_app(model_dir), terminal_size=(80, 24), run_before=run_before)
