"""Issue 17, item 4: from a flagged row of the compare view to that layer's histogram (Enter or
g), and findings that do not repeat their code."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fake_runs import wait_for
from pilot_helpers import wait_idle

from layerscope.engine import load_model
from layerscope.engine.capture import capture
from layerscope.engine.diff import Flag
from layerscope.engine.inputs import load_input, model_input_shape
from layerscope.engine.report import from_capture, save
from layerscope.tui.screens.compare import CompareScreen
from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.screens.report_prompt import ReportPrompt

SIZE = (120, 40)
SHRUNK = "/features/features.3/Conv_output_0"


@pytest.fixture
def suspect(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A capture of smallcnn.onnx on digits:3 with one activation's std shrunk 1000×."""
    model = load_model(model_dir / "smallcnn.onnx")
    report = from_capture(
        capture(model, load_input("digits:3", input_shape=model_input_shape(model)))
    )
    tensor = report.tensors[SHRUNK]
    tensor.stats = dataclasses.replace(tensor.stats, std=tensor.stats.std / 1000)
    save(report, tmp_path / "suspect.json")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "suspect.json"


async def open_compare(pilot) -> CompareScreen:
    app = pilot.app
    await wait_idle(pilot)
    await pilot.press("c", "3", "enter")  # capture digit 3
    await wait_idle(pilot)
    app.screen.action_compare_capture()
    await pilot.pause()
    assert isinstance(app.screen, ReportPrompt)
    await pilot.press(*"suspect.json", "enter")
    await wait_idle(pilot)
    screen = app.screen
    assert isinstance(screen, CompareScreen) and screen.diff is not None
    assert [r.name for r in screen.diff.flagged] == [SHRUNK]
    assert screen.table.cursor_row == screen.table.get_row_index(SHRUNK)
    return screen


@pytest.mark.parametrize("key", ["enter", "g"])
async def test_enter_or_g_shows_the_flagged_layers_histogram(
    key: str, model_dir: Path, suspect: Path, make_app
) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        compare = await open_compare(pilot)
        layer = next(r.layer for r in compare.diff.rows if r.name == SHRUNK)
        await pilot.press(key)
        await wait_idle(pilot)
        inspector = app.screen
        assert isinstance(inspector, InspectorScreen)
        await wait_for(pilot, lambda: inspector.tree.current_layer == layer)
        assert inspector.capture_bar.showing_activations


async def test_a_finding_does_not_repeat_its_code(model_dir: Path, suspect: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        compare = await open_compare(pilot)
        row = dataclasses.replace(
            compare.diff.rows[0],
            flags=[Flag("saturated", "saturated: 23% of values at the range's ends", "rule")],
        )
        compare.show_detail(row)
        detail = str(compare.query_one("#compare-detail").render())
        assert "⚠ saturated: 23% of values" in detail
        assert "saturated: saturated" not in detail
