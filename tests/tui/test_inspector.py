"""Pilot tests: drive the inspector by keys, as a user would, and check what they would see."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pilot_helpers import wait_idle
from textual.widgets import Input

from layerscope.engine.inspect import count_in_range, tensor_stats
from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.widgets.histogram import Histogram
from layerscope.tui.widgets.layer_tree import LayerTree
from layerscope.tui.widgets.model_picker import ModelPicker
from layerscope.tui.widgets.quant_panel import QuantPanel
from layerscope.tui.widgets.stats_panel import StatsPanel
from layerscope.tui.widgets.view_toggle import ViewToggle

SIZE = (120, 40)


def panel(app) -> dict[str, str]:
    """The statistics panel as the user reads it: label → text."""
    return {k: str(v) for k, v in app.screen.query_one(StatsPanel).rows}


async def open_from_picker(pilot, name: str) -> None:
    """Press o, walk the picker down to ``name``, press Enter and wait for the model."""
    await pilot.press("o")
    picker = pilot.app.screen.query_one(ModelPicker)
    for _ in range(picker.option_count):
        option = picker.get_option_at_index(picker.highlighted or 0)
        if option.id and Path(option.id).name == name:
            break
        await pilot.press("down")
    await pilot.press("enter")
    await wait_idle(pilot)


async def test_start_in_folder_lists_models_and_waits(model_dir: Path, make_app) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        picker = app.screen.query_one(ModelPicker)
        listed = [Path(o.id).name for o in picker.options if o.id]
        assert listed == ["broken.onnx", "smallcnn.onnx", "smallcnn.pt", "smallcnn_int8.onnx"]
        assert picker.has_focus
        assert app.screen.query_one(Histogram).stats is None
        assert panel(app) == {}


async def test_pick_model_and_walk_the_tree(model_dir: Path, make_app) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await open_from_picker(pilot, "smallcnn.pt")
        assert app.screen.sub_title == "smallcnn.pt · state-dict"
        tree = app.screen.query_one(LayerTree)
        assert tree.has_focus and tree.current_layer == "features.0"  # first layer with weights
        assert panel(app)["shape"] == "8×3×3×3"
        assert "Weight Distribution" in app.screen.query_one(Histogram).plt.build()
        await pilot.press("down")
        await wait_idle(pilot)
        assert tree.current_layer == "features.3"
        assert panel(app)["shape"] == "16×8×3×3"
        await pilot.press("down", "down")  # back up to features' sibling: classifier
        await wait_idle(pilot)
        assert tree.current_layer == "classifier"
        assert panel(app)["shape"] == "10×16"


async def test_change_tensor_bins_and_range(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        await pilot.press("tab")  # layers → tensors
        assert screen.tensors.has_focus
        await pilot.press("down")
        await wait_idle(pilot)
        assert screen.ref is not None and screen.ref.role == "bias"
        assert panel(app)["shape"] == "8"
        await pilot.press("up")
        await wait_idle(pilot)

        await pilot.press("b", *"20", "enter")
        await wait_idle(pilot)
        assert len(screen.query_one(Histogram).stats.counts) == 20
        await pilot.press("]")  # next step up the ladder from 20
        await wait_idle(pilot)
        assert len(screen.query_one(Histogram).stats.counts) == 30

        await pilot.press("r", *"-0.1", "enter", *"0.1", "enter")
        await wait_idle(pilot)
        expected = count_in_range(screen.ref, -0.1, 0.1)
        share = expected / screen.ref.numel
        assert panel(app)["in [-0.1, 0.1]"] == f"{expected:,} ({share:.2%})"
        plot = screen.query_one(Histogram).plt.build()
        assert "in range" in plot  # the legend of the highlighted bins


async def test_bad_bins_are_refused(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("b", *"0", "enter")
        await wait_idle(pilot)
        assert len(app.screen.query_one(Histogram).stats.counts) == 50
        assert any("Bins must be" in n.message for n in app._notifications)


async def test_int_float_toggle_on_quantized_onnx(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        assert screen.ref is not None and screen.ref.quant is not None
        toggle = screen.query_one(ViewToggle)
        assert toggle.display and "-shown" in toggle.classes
        assert screen.query_one(QuantPanel).has_class("-shown")
        float_stats = screen.query_one(Histogram).stats
        assert panel(app)["dtype"] == "int8→float32"

        await pilot.press("i")
        await wait_idle(pilot)
        int_stats = screen.query_one(Histogram).stats
        assert int_stats is tensor_stats(screen.ref, bins=50, view="int")
        assert int_stats.edges[0] == -128.5 and int_stats.edges[-1] == 127.5
        assert "int8 values" in screen.query_one(Histogram).plt.build()
        assert panel(app)["dtype"] == "int8"

        await pilot.press("i")
        await wait_idle(pilot)
        assert screen.query_one(Histogram).stats is float_stats


async def test_toggle_hidden_for_float_tensors(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        assert not screen.query_one(ViewToggle).has_class("-shown")
        assert screen.check_action("toggle_view", ()) is False
        before = screen.query_one(Histogram).stats
        await pilot.press("i")
        await wait_idle(pilot)
        assert screen.query_one(Histogram).stats is before


async def test_filter_narrows_tree_and_escape_restores(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        tree = app.screen.query_one(LayerTree)
        await pilot.press("slash", *"class")
        await wait_idle(pilot)
        shown = [n.data for n in tree.root.children]
        assert shown == ["classifier"]
        await pilot.press("enter")  # back to the tree, filter kept
        await wait_idle(pilot)
        assert tree.has_focus and tree.current_layer == "classifier"
        assert panel(app)["shape"] == "10×16"
        await pilot.press("slash", "escape")
        await wait_idle(pilot)
        assert [n.data for n in tree.root.children] == ["features", "classifier"]


async def test_palette_runs_commands_and_exports_json(
    work_dir: Path, make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = make_app(work_dir / "smallcnn.pt")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("ctrl+p", *"change bins")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "bins"
        await pilot.press("escape")
        await pilot.press("ctrl+p", *"export")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_idle(pilot)
        # Beside the model, not in the working folder (issue 17).
        out = work_dir / "layerscope" / "smallcnn.features.0.weight.float.stats.json"
        data = json.loads(out.read_text())
        # The schema of ``layerscope inspect --layer ... --json``, plus the view shown.
        assert data["tensor"]["name"] == "features.0.weight" and data["bins"] == 50
        assert data["tensor"]["stats"]["numel"] == 216 and data["view"] == "float"
        assert data["model"]["path"].endswith("smallcnn.pt")
        assert not list(tmp_path.glob(".*.tmp"))  # the temp file was renamed, not left behind


async def test_corrupt_file_notifies_and_app_recovers(model_dir: Path, make_app) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await open_from_picker(pilot, "broken.onnx")
        errors = [n for n in app._notifications if n.severity == "error"]
        assert errors and "broken.onnx" in errors[-1].message
        log_text = "\n".join(str(line.text) for line in app.backlog)
        assert "broken.onnx" in log_text
        assert app.screen.query_one(LayerTree).loading is False
        await open_from_picker(pilot, "smallcnn.pt")
        assert panel(app)["shape"] == "8×3×3×3"


async def test_untrusted_pickle_asks_before_loading(work_dir: Path, make_app) -> None:
    app = make_app(work_dir / "module.pt")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        assert type(app.screen).__name__ == "ConfirmTrust"
        await pilot.press("escape")  # decline: nothing loads
        await wait_idle(pilot)
        assert isinstance(app.screen, InspectorScreen) and app.screen.model is None
        await pilot.press("o")
        await open_from_picker(pilot, "module.pt")
        assert type(app.screen).__name__ == "ConfirmTrust"
        await pilot.press("y")
        await wait_idle(pilot)
        assert app.screen.model is not None and app.screen.model.format == "torch-module"
        assert panel(app)["shape"] == "3×4"


async def test_reload_reports_a_layer_that_went_missing(tmp_path: Path, make_app) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    path = tmp_path / "m.safetensors"
    rng = np.random.default_rng(0)
    save_file({"a.weight": rng.standard_normal(4, dtype=np.float32),
               "b.weight": rng.standard_normal(6, dtype=np.float32)}, str(path))  # fmt: skip
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("down")
        await wait_idle(pilot)
        assert app.screen.query_one(LayerTree).current_layer == "b"
        save_file({"a.weight": rng.standard_normal(5, dtype=np.float32)}, str(path))
        await pilot.press("ctrl+r")
        await wait_idle(pilot)
        warnings = [n.message for n in app._notifications if n.severity == "warning"]
        assert any("no layer named 'b'" in w for w in warnings)
        assert app.screen.query_one(LayerTree).current_layer == "a"
        assert panel(app)["shape"] == "5"


async def test_escape_cancels_a_slow_load(model_dir: Path, make_app, monkeypatch) -> None:
    import threading

    import layerscope.engine.loaders

    release = threading.Event()
    real = layerscope.engine.loaders.load_model

    def slow(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(layerscope.engine.loaders, "load_model", slow)
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        tree = app.screen.query_one(LayerTree)
        assert tree.loading
        await pilot.press("escape")
        await pilot.pause()
        assert not tree.loading
        release.set()
        await wait_idle(pilot)
        assert app.screen.model is None  # the cancelled result was dropped
        assert any("Cancelled" in str(line.text) for line in app.backlog)


async def test_log_pane_shows_loguru_lines(model_dir: Path, make_app) -> None:
    from loguru import logger

    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        logger.info("hello from a test")
        await pilot.pause()
        await pilot.pause()
        assert any(line.text == "hello from a test" for line in app.backlog)


async def test_missing_path_is_a_warning_not_a_crash(tmp_path: Path, make_app) -> None:
    app = make_app(tmp_path / "nope")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        assert any("no such file" in n.message for n in app._notifications)
        await pilot.press("ctrl+p", *"open path")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "OpenPath"
        assert isinstance(app.screen.query_one(Input), Input)


async def test_palette_offers_only_commands_that_apply(model_dir: Path, make_app) -> None:
    from layerscope.tui.commands import LayerscopeCommands

    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        provider = LayerscopeCommands(app.screen)
        titles = [title for title, _, _ in provider._available()]
        assert "export: tensor statistics to JSON" in titles
        assert "view: toggle int/float" not in titles  # a float model has no integer view
        assert all(": " in title for title in titles)


async def test_opening_another_model_shows_its_own_tensor(work_dir, make_app) -> None:
    """Two models whose first layer sits on the same tree line: the second must not show the first's."""
    import torch
    from safetensors.torch import save_file

    for name, value in (("a.safetensors", 1.0), ("b.safetensors", 5.0)):
        save_file({"fc.weight": torch.full((4, 4), value)}, str(work_dir / name))
    app = make_app(work_dir / "a.safetensors")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert screen.ref is not None and screen.ref.source.endswith("a.safetensors")
        screen.open_model(work_dir / "b.safetensors")
        await wait_idle(pilot)
        await pilot.pause(0.2)
        await wait_idle(pilot)
        assert screen.ref is not None and screen.ref.source.endswith("b.safetensors")
        assert screen.stats is not None and screen.stats.max == 5.0
