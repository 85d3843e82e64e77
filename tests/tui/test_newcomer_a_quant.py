"""Issue 17, item 3: the Quantization view runs on the input the user last used (or the model's
own data), says which input its verdict rests on, pairs a runnable float twin, and keeps a good
comparison when a typo in its input field fails."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pilot_helpers import settle, wait_idle

from layerscope.engine.discover import ModelEntry, ModelGroup
from layerscope.tui.screens.quantization import QuantizationScreen
from layerscope.tui.widgets.quant_inputs import QuantInputs
from layerscope.tui.widgets.quant_summary import QuantSummary
from layerscope.tui.widgets.quant_table import QuantTable

SIZE = (120, 40)


@pytest.fixture
def pair_dir(model_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("smallcnn.onnx", "smallcnn_int8.onnx"):
        shutil.copy(model_dir / name, folder / name)
    return folder


async def open_quant(pilot) -> QuantizationScreen:
    await wait_idle(pilot)
    await pilot.press("Q")
    await wait_idle(pilot, 120)
    screen = pilot.app.screen
    assert isinstance(screen, QuantizationScreen)
    return screen


async def test_it_compares_on_the_input_last_captured(pair_dir: Path, make_app) -> None:
    app = make_app(pair_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("c", "5", "enter")  # capture digit 5 in the inspector
        await wait_idle(pilot)
        screen = await open_quant(pilot)
        assert screen.input_spec == "digits:5"
        assert screen.query_one(QuantInputs).input.value == "digits:5"
        summary = screen.query_one(QuantSummary).text
        assert "below 20 dB on digits" in summary  # the verdict names its input


async def test_it_defaults_to_the_models_own_data(pair_dir: Path, make_app) -> None:
    (pair_dir / "demo_manifest.json").write_text(json.dumps({"dataset": "digits"}))
    app = make_app(pair_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant(pilot)
        assert screen.input_spec == "digits:0-31"
        assert "on digits" in screen.query_one(QuantSummary).text


async def test_a_typo_in_the_inputs_keeps_the_comparison(pair_dir: Path, make_app) -> None:
    app = make_app(pair_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant(pilot)
        table = screen.query_one(QuantTable)
        rows = table.row_count
        assert rows > 0 and screen.result is not None
        await pilot.press("n")  # the inputs field
        screen.query_one(QuantInputs).input.value = "digts:0-31"
        await pilot.press("enter")
        await wait_idle(pilot, 120)
        assert table.row_count == rows and screen.result is not None
        assert screen.input_spec == "random"
        assert screen.query_one(QuantInputs).input.value == "random"
        text = screen.query_one(QuantSummary).text
        assert "digts" in text and "still showing the comparison on random" in text


async def test_at_80_columns_the_input_description_is_shown_whole(pair_dir: Path, make_app) -> None:
    """What the engine made of the spec ("digits[0-31] (32 images), normalised with …") was a
    label beside the fields that 80 columns cut with "…"; the summary shows it whole, wrapped."""
    (pair_dir / "demo_manifest.json").write_text(json.dumps({"dataset": "digits"}))
    app = make_app(pair_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_quant(pilot)
        about = screen.query_one(QuantInputs).about
        assert about.startswith("digits[0-31]") and "normalised" in about
        summary = screen.query_one(QuantSummary)
        shown = "".join(strip.text for strip in summary.render_lines(summary.size.region))
        assert "".join(about.split()) in "".join(shown.split())  # every word of it is on screen


def test_the_float_twin_is_one_that_runs() -> None:
    def entry(name: str, fmt: str, variant: str = "float") -> ModelEntry:
        return ModelEntry(Path("models") / name, fmt, 1, variant)

    group = ModelGroup(
        "resnet8",
        [
            entry("resnet8.ckpt", "torch-zip"),
            entry("resnet8.onnx", "onnx"),
            entry("resnet8.pt", "torch-zip"),
            entry("resnet8.safetensors", "safetensors"),
            entry("resnet8_state.pt", "torch-zip", "state"),
            entry("resnet8_int8.onnx", "onnx", "int8"),
            entry("resnet8_int8.pt", "torchscript", "int8"),
        ],
    )
    pairs = {q.name: f.name for f, q in group.pairs()}
    assert pairs == {"resnet8_int8.onnx": "resnet8.onnx", "resnet8_int8.pt": "resnet8.pt"}


def test_snapshot_quantization_view_80x24(
    snap_compare, make_app, pair_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80×24 on the model's own data: the verdict names its input, rows and plots fit."""
    (pair_dir / "demo_manifest.json").write_text(json.dumps({"dataset": "digits"}))
    monkeypatch.chdir(pair_dir.parent)  # relative paths: no temp folder names on screen

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("Q")
        await settle(pilot)

    app = make_app("models/smallcnn_int8.onnx")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
