"""The first frame is the picker alone (issue 14, section 2): importing the app loads none of the
inspector's other widgets nor any plotting or numeric library, the rest of the inspector mounts
right after the first frame, and keys typed before that wait for it, in order."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from pilot_helpers import wait_idle

from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.widgets.layer_tree import LayerTree
from layerscope.tui.widgets.log_pane import LogPane
from layerscope.tui.widgets.model_picker import ModelPicker
from layerscope.tui.widgets.tensor_view import TensorView
from tests.fresh_interpreter import modules_after

ROOT = Path(__file__).resolve().parents[2]
SIZE = (120, 40)

# Loaded after the first frame (or on demand), never by importing the app and creating it.
DEFERRED = (
    "torch", "numpy", "onnx", "onnxruntime", "safetensors", "plotext", "textual_plotext",
    "rich.pretty", "yaml", "loguru", "argparse",
    "layerscope.engine.model",  # its dataclasses: ~2.5 ms
    "layerscope.engine.quant_compare", "layerscope.engine.io", "layerscope.engine.usecases",
    "layerscope.tui.widgets.layer_tree", "layerscope.tui.widgets.tensor_view",
    "layerscope.tui.widgets.input_source", "layerscope.tui.widgets.histogram",
    "layerscope.tui.widgets.log_pane", "layerscope.tui.widgets.ordered_input",
    "layerscope.tui.screens.confirm_trust", "layerscope.tui.screens.train",
    "layerscope.tui.screens.runs",
)  # fmt: skip


def test_creating_the_app_imports_only_what_the_first_frame_draws() -> None:
    loaded = modules_after("from layerscope.tui.app import LayerscopeApp\nLayerscopeApp('models')")
    assert "layerscope.tui.widgets.model_picker" in loaded  # the check sees the app's modules
    early = sorted(m for m in DEFERRED if m in loaded)
    assert not early, f"imported before the first frame: {early}"


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> Callable[[], Awaitable[None]]:
    """Keep the inspector's follow-up mount from running until the test awaits the returned
    function (which runs it from the test, so the screen's own messages keep flowing)."""
    asked: list[tuple[InspectorScreen, Path | None]] = []
    mount_rest = InspectorScreen._mount_rest

    async def held(self: InspectorScreen, open_path: Path | None) -> None:
        asked.append((self, open_path))

    async def release() -> None:
        screen, open_path = asked[0]
        monkeypatch.setattr(InspectorScreen, "_mount_rest", mount_rest)
        await mount_rest(screen, open_path)

    monkeypatch.setattr(InspectorScreen, "_mount_rest", held)
    return release


async def test_first_frame_has_the_picker_and_the_rest_mounts_after(
    model_dir: Path, make_app, gated: Callable[[], Awaitable[None]]
) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, InspectorScreen)
        await pilot.pause()
        picker = screen.query_one(ModelPicker)
        assert not screen.built
        assert not screen.query(LayerTree) and not screen.query(TensorView)
        await wait_idle(pilot)  # the listing arrives before the rest is mounted
        assert picker.option_count > 0 and app.focused is picker
        await gated()
        await wait_idle(pilot)
        assert screen.built
        assert screen.query_one(LayerTree) and screen.query_one(TensorView)
        assert [w.id for w in screen.query_one("#sidebar").children] == [
            "picker", "filter", "layers", "tensors",
        ]  # fmt: skip
        assert [w.id for w in screen.children][-2:] == ["log", None]  # the log above the footer
        assert app.focused is picker


async def test_keys_typed_before_the_rest_is_mounted_wait_for_it(
    model_dir: Path, make_app, gated: Callable[[], Awaitable[None]]
) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_idle(pilot)
        await pilot.press("l", "down", "enter")  # hide the log; open the second listed model
        assert not screen.built and screen.model is None
        await gated()
        await wait_idle(pilot)
        assert not screen.query_one(LogPane).display  # l was not dropped
        picker = screen.query_one(ModelPicker)
        second = Path(picker.get_option_at_index(picker.highlighted or 0).id or "")
        assert screen.model is not None and screen.model.path == second


async def test_a_model_path_opens_once_the_tree_is_mounted(model_dir: Path, make_app) -> None:
    path = model_dir / "smallcnn.onnx"
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        assert screen.model is not None and screen.model.path == path
        assert app.focused is screen.query_one(LayerTree)


async def test_each_screen_still_opens_from_the_first_screen(model_dir: Path, make_app) -> None:
    from layerscope.tui.screens.help import HelpScreen
    from layerscope.tui.screens.runs import RunsScreen
    from layerscope.tui.screens.train import TrainScreen

    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        for key, kind in (("t", TrainScreen), ("R", RunsScreen), ("f1", HelpScreen)):
            await pilot.press(key)
            await wait_idle(pilot)
            assert isinstance(app.screen, kind), key
            while not isinstance(app.screen, InspectorScreen):
                app.pop_screen()
                await pilot.pause()
        assert app.screen.built


async def test_the_plot_and_log_modules_are_imported_off_the_ui_thread(
    model_dir: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import layerscope.tui.app as app_module

    threads: dict[str, int] = {}
    real_import = app_module.importlib.import_module

    def recording_import(name: str, package: str | None = None) -> object:
        if name in app_module.WARM_IMPORTS:
            threads[name] = threading.get_ident()
        return real_import(name, package)

    monkeypatch.setattr(app_module.importlib, "import_module", recording_import)
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
    assert set(threads) == set(app_module.WARM_IMPORTS)
    assert threading.get_ident() not in threads.values()


def test_the_cli_pauses_collection_until_the_first_frame() -> None:
    # App.run stubbed out: main() imports the app with collection paused and asks it to resume.
    code = (
        "import gc, sys\n"
        "import textual.app\n"
        "apps = []\n"
        "textual.app.App.run = lambda self, **kw: apps.append(self) or 0\n"
        "class Seen:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'layerscope.tui.app':\n"
        "            print('collecting while importing the app:', gc.isenabled())\n"
        "sys.meta_path.insert(0, Seen())\n"
        "from layerscope.engine.cli import main\n"
        "assert main(['models']) == 0\n"
        "print('resume:', apps[0].resume_gc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.splitlines() == ["collecting while importing the app: False", "resume: True"]


async def test_collection_resumes_after_the_first_frame(model_dir: Path, make_app) -> None:
    import gc

    app = make_app(model_dir)
    app.resume_gc = True
    gc.disable()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_idle(pilot)
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0  # what the start made is kept out of collections
            assert not app.resume_gc
    finally:
        gc.enable()
