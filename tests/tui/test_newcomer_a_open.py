"""Issue 17, item 2: "model: open path" opens folders of models, and a folder with no model
names the model-like files it skipped and why."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from pilot_helpers import wait_idle
from textual.widgets import Input

from layerscope.engine.discover import list_folder
from layerscope.tui.screens.open_path import OpenPath

SIZE = (120, 40)


def picker_text(app) -> str:
    picker = app.screen.picker
    options = [picker.get_option_at_index(i) for i in range(picker.option_count)]
    return "\n".join(o.id or str(o.prompt) for o in options)  # a model row's id is its path


async def open_path(pilot, path: Path) -> None:
    pilot.app.screen.action_open_path()
    await pilot.pause()
    assert isinstance(pilot.app.screen, OpenPath)
    pilot.app.screen.query_one(Input).value = str(path)
    await pilot.press("enter")
    await wait_idle(pilot)


async def test_open_path_lists_a_folder_that_holds_a_safetensors_file(
    model_dir: Path, tmp_path: Path, make_app
) -> None:
    from safetensors.numpy import save_file

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(model_dir / "smallcnn.onnx", models / "smallcnn.onnx")
    save_file({"fc.weight": np.ones((2, 3), np.float32)}, str(models / "tiny.safetensors"))
    start = tmp_path / "elsewhere"  # the user started in the wrong folder
    start.mkdir()
    app = make_app(start)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        assert "no models here" in picker_text(app)
        await open_path(pilot, models)
        assert app.screen.picker.folder == models
        text = picker_text(app)
        assert "smallcnn.onnx" in text and "tiny.safetensors" in text
        assert not [n for n in app._notifications if n.severity == "error"]


async def test_a_folder_whose_only_model_is_unreadable_says_which_and_why(
    tmp_path: Path, make_app
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "weights.pt").write_bytes(b"PK\x03\x04 truncated zip archive")
    (folder / "notes.txt").write_text("not a model, not worth a word")
    app = make_app(folder)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        text = picker_text(app)
        assert "no models here" in text
        assert "weights.pt" in text and "corrupt or truncated zip" in text
        assert "notes.txt" not in text


def test_list_folder_reports_skipped_model_files(tmp_path: Path) -> None:
    (tmp_path / "a.onnx").write_bytes(b"\x00" * 32)
    (tmp_path / "readme.md").write_text("# hi")
    (tmp_path / "sub").mkdir()
    listing = list_folder(tmp_path)
    assert listing.groups == []
    assert [p.name for p, _ in listing.skipped] == ["a.onnx"]
    assert str(tmp_path) not in listing.skipped[0][1]  # the name, not the whole path again
