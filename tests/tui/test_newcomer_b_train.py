"""Issue 17, item 6: the Train form's focus is visible and the launch summary lists what runs.

The newcomer at 80x24 pressed t, Tab x3, 2, Tab x3, walk80, ctrl+l and got Devices=2 and the
config's own name without seeing where their keys went.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from fake_runs import wait_for
from pilot_helpers import settle
from textual.containers import Horizontal
from textual.widgets import Input, Label

from layerscope.tui.screens.train import TrainScreen
from layerscope.tui.widgets.train_form import TrainForm

SMALL = (80, 24)
REPO_CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO_CONFIGS, tmp_path / "configs")
    monkeypatch.setenv("LAYERSCOPE_RUNS", "runs")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    return tmp_path


def row_of(widget) -> Horizontal:
    row = widget.parent
    assert isinstance(row, Horizontal) and row.has_class("row")
    return row


async def open_form(pilot) -> TrainScreen:
    await pilot.press("t")
    await wait_for(pilot, lambda: pilot.app.screen.query_one("#lr", Input).value != "")
    assert isinstance(pilot.app.screen, TrainScreen)
    return pilot.app.screen


async def test_focused_field_is_marked(here: Path, model_dir, make_app) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_form(pilot)
        form = screen.query_one(TrainForm)
        focused = app.focused
        assert focused is not None and focused.id == "lr"  # a field, ready to type in
        rows = list(form.query("Horizontal.row"))
        marked = [r for r in rows if r.has_class("-focused")]
        assert marked == [row_of(focused)]
        # And it looks different: the label of the focused row is not styled as the others.
        label = row_of(focused).query_one(Label)
        other = row_of(screen.query_one("#epochs")).query_one(Label)
        assert label.styles.background != other.styles.background
        await pilot.press("tab")
        assert app.focused.id == "epochs"
        assert [r for r in rows if r.has_class("-focused")] == [row_of(app.focused)]


async def test_launch_summary_lists_devices_and_name(
    here: Path, model_dir, make_app, monkeypatch
) -> None:
    launched: list[tuple[list[str], str | None]] = []

    def fake_launch(self, path, overrides, name) -> None:  # no process: what was asked
        launched.append((overrides, name))

    monkeypatch.setattr(TrainScreen, "launch_run", fake_launch)
    app = make_app(model_dir)
    async with app.run_test(size=SMALL) as pilot:
        await open_form(pilot)
        await pilot.press("tab", "tab", "tab", "2", "ctrl+l")  # lr -> devices
        await settle(pilot)
        assert launched and "trainer.devices=2" in launched[0][0]
        text = " ".join(n.message for n in app._notifications)
        assert "devices 2" in text, text
        assert "resnet8_digits" in text and "run name" in text  # the default name, said so


def test_snapshot_form_focus_80x24(here: Path, model_dir, make_app, snap_compare) -> None:
    async def run_before(pilot) -> None:
        await pilot.press("t")
        await settle(pilot)
        await pilot.press("tab", "tab")  # batch size
        await settle(pilot)

    assert snap_compare(make_app(model_dir), terminal_size=SMALL, run_before=run_before)


def test_snapshot_form_focus_120x40(here: Path, model_dir, make_app, snap_compare) -> None:
    async def run_before(pilot) -> None:
        await pilot.press("t")
        await settle(pilot)

    assert snap_compare(make_app(model_dir), terminal_size=(120, 40), run_before=run_before)


async def test_tab_burst_lands_in_the_field_counted(here: Path, model_dir, make_app) -> None:
    """Item 9 in the form: Tab x3 then 2 in one read reaches Devices, not the first field."""
    from textual import events

    app = make_app(model_dir)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_form(pilot)
        lr = screen.query_one("#lr", Input).value
        for key, char in [("tab", "\t"), ("tab", "\t"), ("tab", "\t"), ("2", "2")]:
            app.post_message(events.Key(key, char))  # one burst, no pause
        await pilot.pause()
        await pilot.pause()
        assert screen.query_one("#devices", Input).value == "2"
        assert screen.query_one("#lr", Input).value == lr
