"""The compare view and saved reports: two constructed reports, diffed and shown with flags."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from pilot_helpers import settle, wait_idle
from rich.text import Text

from layerscope.engine import load_model
from layerscope.engine.capture import capture
from layerscope.engine.inputs import load_input, model_input_shape
from layerscope.engine.report import from_capture, load, save
from layerscope.tui.screens.compare import FLAGGED, CompareScreen
from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.screens.report_prompt import ReportPrompt

SIZE = (120, 40)
SHRUNK = "/features/features.3/Conv_output_0"  # the tensor the suspect report breaks


@pytest.fixture
def reports(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``reference.json`` (a real capture of smallcnn.onnx on digits:3) and ``suspect.json``
    (the same, with one activation's std shrunk 1000×), in the working folder."""
    model = load_model(model_dir / "smallcnn.onnx")
    batch = load_input("digits:3", input_shape=model_input_shape(model))
    report = from_capture(capture(model, batch))
    report.created = "2026-01-01T00:00:00+00:00"  # stable on screen
    save(report, tmp_path / "reference.json")
    tensor = report.tensors[SHRUNK]
    tensor.stats = dataclasses.replace(tensor.stats, std=tensor.stats.std / 1000)
    save(report, tmp_path / "suspect.json")
    monkeypatch.chdir(tmp_path)  # relative paths: no temp folders on screen
    return tmp_path


async def type_path(pilot, path: str) -> None:
    """The focused path field has its text selected: typing replaces it; Enter moves on."""
    await pilot.press(*path, "enter")


async def test_compare_two_reports_by_keys(model_dir: Path, reports: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, ReportPrompt)
        await type_path(pilot, "reference.json")
        await type_path(pilot, "suspect.json")
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        diff = screen.diff
        assert diff is not None and [r.name for r in diff.flagged] == [SHRUNK]
        table = screen.table
        assert table.row_count == len(diff.rows) == len(load("reference.json").tensors)
        cells = table.get_row(SHRUNK)
        assert isinstance(cells[1], Text) and cells[1].style == FLAGGED  # highlighted row
        assert "std-shrank" in str(cells[2])
        ok = next(r.name for r in diff.rows if not r.flags)
        assert str(table.get_row(ok)[2]) == ""
        summary = str(screen.query_one("#compare-summary").render())
        assert "1 flagged" in summary and f"{len(diff.rows)} tensors matched" in summary

        assert table.cursor_row == table.get_row_index(SHRUNK)  # the first flagged row
        detail = str(screen.query_one("#compare-detail").render())
        assert "std shrank 1e+03×" in detail

        await pilot.press("f")  # flagged only
        assert table.row_count == 1
        await pilot.press("escape")
        assert isinstance(app.screen, InspectorScreen)


async def test_capture_against_saved_report(model_dir: Path, reports: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        assert screen.check_action("compare_capture", ()) is False  # nothing captured yet
        await pilot.press("c", "3", "enter")
        await wait_idle(pilot)
        screen.action_compare_capture()
        await pilot.pause()
        assert isinstance(app.screen, ReportPrompt)
        await type_path(pilot, "reference.json")
        await wait_idle(pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen) and compare.diff is not None
        assert compare.diff.flagged == []  # same model, same input: nothing changed
        assert compare.diff.only_a == [] and compare.diff.only_b == []
        assert "current capture of smallcnn.onnx" in compare.diff.b


async def test_save_capture_as_report(model_dir: Path, reports: Path, make_app) -> None:
    own = reports / "own"  # a private copy: the report is saved beside the model (issue 17)
    own.mkdir()
    shutil.copy(model_dir / "smallcnn.onnx", own)
    app = make_app(own / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        await pilot.press("c", "3", "enter")
        await wait_idle(pilot)
        screen.action_save_report()
        await pilot.pause()
        assert isinstance(app.screen, ReportPrompt)
        await pilot.press("enter")  # the proposed name
        await wait_idle(pilot)
        saved = own / "layerscope" / "smallcnn.digits_3.activations.json"
        report = load(saved)
        assert report.input["description"].startswith("digits[3]")
        assert set(report.tensors) == set(load("reference.json").tensors)
        assert any(
            "Saved smallcnn.digits_3.activations.json" in n.message for n in app._notifications
        )


async def test_compare_with_a_file_that_is_no_report(
    model_dir: Path, reports: Path, make_app
) -> None:
    (reports / "notes.json").write_text('{"hello": 1}')
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("d")
        await type_path(pilot, "reference.json")
        await type_path(pilot, "notes.json")
        await wait_idle(pilot)
        assert isinstance(app.screen, CompareScreen)
        assert any("not a layerscope activation report" in n.message for n in app._notifications)
        assert "Could not compare" in str(app.screen.query_one("#compare-summary").render())
        assert any("not a layerscope activation report" in line.text for line in app.backlog)


class TestCompareSnapshot:
    def test_compare_view(self, snap_compare, make_app, model_dir: Path, reports: Path) -> None:
        async def run_before(pilot) -> None:
            await settle(pilot)
            app = pilot.app
            app.push_screen(CompareScreen(Path("reference.json"), Path("suspect.json")))
            await settle(pilot)

        app = make_app(model_dir / "smallcnn.onnx")
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def test_prompt_refuses_a_missing_report(model_dir: Path, reports: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("d")
        await type_path(pilot, "nothere.json")
        assert isinstance(app.screen, ReportPrompt)  # stays, so the typo can be fixed
        assert any("No report at nothere.json" in n.message for n in app._notifications)
        await pilot.press("escape")
        assert isinstance(app.screen, InspectorScreen)
