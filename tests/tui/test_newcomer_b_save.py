"""Issue 17, missing: save paths default to a ``layerscope`` folder beside the model (inside the
run's folder for a run's model), not the folder the app was started in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pilot_helpers import wait_idle

from layerscope.engine.io import output_folder
from layerscope.tui.screens.report_prompt import ReportPrompt


def test_output_folder_is_beside_the_model(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "20261125-094600-adam"
    assert output_folder(run / "model.onnx") == run / "layerscope"


async def test_export_goes_beside_the_model(
    work_dir: Path, make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "started-here"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    app = make_app(work_dir / "smallcnn.pt")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        await pilot.press("e")
        await wait_idle(pilot)
        out = work_dir / "layerscope" / "smallcnn.features.0.weight.float.stats.json"
        assert json.loads(out.read_text())["tensor"]["name"] == "features.0.weight"
        assert list(elsewhere.iterdir()) == []


async def test_report_prompt_proposes_the_models_folder(
    work_dir: Path, make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(work_dir / "smallcnn.onnx")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        await pilot.press("c", "3", "enter")
        await wait_idle(pilot)
        app.screen.action_save_report()
        await pilot.pause()
        assert isinstance(app.screen, ReportPrompt)
        await pilot.press("enter")
        await wait_idle(pilot)
        assert (work_dir / "layerscope" / "smallcnn.digits_3.activations.json").is_file()
