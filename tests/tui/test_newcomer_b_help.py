"""Issue 17, missing: ``?`` (and F1) opens a help screen of every key on the current screen, and
the footer shows the keys that matter there."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from fake_runs import wait_for
from pilot_helpers import settle, wait_idle
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from layerscope.tui.screens.help import HelpScreen
from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.screens.train import TrainScreen

REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def footer_keys(app) -> list[str]:
    return [k.key for k in app.screen.query(FooterKey)]


def shown_footer_keys(app) -> list[str]:
    """Keys whose footer entry is on screen (not scrolled off the right edge)."""
    width = app.screen.size.width
    return [k.key for k in app.screen.query(FooterKey) if k.region.right <= width and k.region.area]


async def test_question_mark_lists_every_inspector_key(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.text
        for key, what in [
            ("Q", "Quant"), ("t", "Train"), ("R", "Runs"), ("l", "Log"), ("d", "Compare"),
            ("[", "Fewer bins"), ("]", "More bins"), ("/", "Filter"), ("q", "Quit"),
            ("ctrl+p", "palette"),
        ]:  # fmt: skip
            lines = [line for line in text.splitlines() if line.strip()]
            assert any(line.split()[0] == key and what in line for line in lines), (
                key,
                text,
            )
        await pilot.press("escape")
        assert isinstance(app.screen, InspectorScreen)


async def test_f1_opens_help_on_the_train_form(
    tmp_path: Path, model_dir: Path, make_app, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO_CONFIGS, tmp_path / "configs")
    monkeypatch.setenv("LAYERSCOPE_RUNS", "runs")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    app = make_app(model_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        await wait_for(pilot, lambda: app.screen.query_one("#lr", Input).value != "")
        await pilot.press("f1")  # ? would be typed into the field
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert any(
            line.startswith("^l") and "Launch" in line for line in app.screen.text.splitlines()
        )
        await pilot.press("escape")
        assert isinstance(app.screen, TrainScreen)


async def test_footer_shows_the_keys_that_matter(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_idle(pilot)
        keys = footer_keys(app)
        for key in ("Q", "t", "R", "l", "d", "left_square_bracket", "right_square_bracket"):
            assert key in keys, (key, keys)
        assert "question_mark" in shown_footer_keys(app)


async def test_help_key_fits_in_80_columns(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        assert "question_mark" in shown_footer_keys(app)


def test_snapshot_help_80x24(model_dir: Path, make_app, snap_compare, monkeypatch) -> None:
    monkeypatch.chdir(model_dir.parent)

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(
        make_app("models/smallcnn.pt"), terminal_size=(80, 24), run_before=run_before
    )


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_inspector_log_on(
    model_dir: Path, make_app, snap_compare, monkeypatch, size
) -> None:
    monkeypatch.chdir(model_dir.parent)

    async def run_before(pilot) -> None:
        await settle(pilot)
        if size[1] < 30:
            await pilot.press("l")  # the short layout hides the log; the tall one shows it
        await settle(pilot)

    assert snap_compare(make_app("models/smallcnn.pt"), terminal_size=size, run_before=run_before)
