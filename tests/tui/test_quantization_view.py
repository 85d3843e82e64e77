"""The Quantization view: a model against its float/quantized twin, by pilot and by snapshot.

The ``hurt`` folder holds SmallCNN and an int8 twin calibrated on inputs twenty times too small:
its activations clip on the N(0, 1) inputs the view runs, so layers fall below 20 dB and are
flagged. Everything is seeded, so the figures and the snapshot are the same on every run.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import pytest
from pilot_helpers import settle, wait_idle
from rich.console import Console
from tui_models import make_onnx, make_state_dict

from layerscope.engine.inputs import load_input, model_input_shape
from layerscope.engine.loaders import load_model
from layerscope.engine.quant_compare import compare
from layerscope.engine.quant_compare.result import RANDOM_SAMPLES
from layerscope.engine.usecases.quant import weight_histograms
from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.screens.quantization import QuantizationScreen
from layerscope.tui.widgets.model_picker import ModelPicker
from layerscope.tui.widgets.quant_histograms import QuantHistograms
from layerscope.tui.widgets.quant_summary import QuantSummary
from layerscope.tui.widgets.quant_table import FLAG, QuantTable

SIZE = (120, 40)
CALIBRATION_SCALE = 0.05  # calibrate on 0.05·N(0, 1): real N(0, 1) inputs then clip


def make_hurt_int8(float_path: Path) -> Path:
    """``smallcnn_int8.onnx``: QDQ int8, calibrated on inputs far smaller than those it will see."""
    from tests.onnx_quantize_for_tests import quantize_static_onnx

    path = float_path.with_name("smallcnn_int8.onnx")
    quantize_static_onnx(
        float_path, path, activation_type="int8", per_channel=True, scale=CALIBRATION_SCALE
    )
    return path


@pytest.fixture(scope="module")
def hurt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``models/``: smallcnn.onnx, its badly calibrated int8 twin, and a twinless state dict."""
    folder = tmp_path_factory.mktemp("quantview") / "models"
    folder.mkdir()
    make_hurt_int8(make_onnx(folder))
    shutil.move(make_state_dict(folder), folder / "lonely.pt")
    return folder


def expected(folder: Path):
    """What the engine says about the pair, on the inputs the view uses."""
    fm = load_model(folder / "smallcnn.onnx")
    qm = load_model(folder / "smallcnn_int8.onnx")
    batch = load_input(
        "random", input_shape=model_input_shape(qm), max_samples=RANDOM_SAMPLES, seed=0
    )
    return compare(fm, qm, batch)


def plain(renderable: object) -> str:
    """A Rich renderable as the text a user reads."""
    console = Console(width=40, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


async def open_quant_view(pilot, timeout: float = 120.0) -> QuantizationScreen:
    await wait_idle(pilot)
    await pilot.press("Q")
    await wait_idle(pilot, timeout)
    screen = pilot.app.screen
    assert isinstance(screen, QuantizationScreen)
    return screen


async def test_open_by_key_rows_worst_first_flagged_marked(hurt_dir: Path, make_app) -> None:
    result = expected(hurt_dir)
    assert result.flagged, "the fixture must produce flagged layers"
    app = make_app(hurt_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant_view(pilot)
        table = screen.query_one(QuantTable)
        assert table.has_focus
        rows = table.rows_shown
        sqnrs = [r.sqnr for r in rows]
        assert sqnrs == sorted(sqnrs)  # worst first
        # Every layer and further activation the engine compared is a row, with its figures.
        layer_rows = [r for r in rows if r.layer is not None]
        assert [r.name for r in layer_rows] == [c.quant_layer for c in result.worst_first()]
        assert len(rows) == len(result.layers) + len(result.activations)
        for row in rows:
            cells = [str(c) for c in table.get_row(row.key)]
            assert cells[0].startswith(FLAG) == row.flagged
            if row.layer is not None:
                engine_row = next(c for c in result.layers if c.quant_layer == row.name)
                assert row.flagged == engine_row.flagged
                assert cells[3] == f"{engine_row.weight.sqnr_db:.1f}"
        # The summary reads as the engine's result.
        text = screen.query_one(QuantSummary).text
        assert "smallcnn.onnx ⇄ smallcnn_int8.onnx" in text
        assert f"flagged {len(result.flagged)} of {len(result.layers)} layers" in text
        names = result.suggest_exclude()
        assert names and f"exclude {len(names)} nodes" in text
        top1 = result.output.top1_agreement
        assert f"top-1 agreement {top1:.1%}" in text


async def test_enter_shows_both_histograms_and_escape_returns(hurt_dir: Path, make_app) -> None:
    app = make_app(hurt_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant_view(pilot)
        table = screen.query_one(QuantTable)
        hists = screen.query_one(QuantHistograms)
        layer_keys = [i for i, r in enumerate(table.rows_shown) if r.layer is not None]
        table.move_cursor(row=layer_keys[-1])  # the best layer, at the bottom of the table
        await pilot.press("enter")
        await wait_idle(pilot)
        row = table.current
        assert row is not None and row.layer is not None
        f_want, q_want = weight_histograms(row.layer, 50)
        assert hists.stats is not None
        f, q = hists.stats
        assert (f.counts, f.edges) == (f_want.counts, f_want.edges)
        assert (q.counts, q.edges) == (q_want.counts, q_want.edges)
        assert f.edges == q.edges  # one shared range: the bars line up
        plots = [p.plt.build() for p in hists.query("PlotView")]
        assert "float" in plots[0] and "dequantized int8" in plots[1]
        assert row.name in str(hists.border_title)

        await pilot.press("v")  # overlaid: one plot with both series
        await pilot.pause()
        assert hists.mode == "overlay" and hists.has_class("-overlay")
        assert "float vs dequantized" in hists.query("PlotView").first().plt.build()

        await pilot.press("escape")
        await wait_idle(pilot)
        assert isinstance(app.screen, InspectorScreen)
        assert app.screen.model is not None and app.screen.model.path.name == "smallcnn.onnx"


async def test_activation_histograms_of_a_row_and_of_a_layer(hurt_dir: Path, make_app) -> None:
    from layerscope.engine.capture import capture

    app = make_app(hurt_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant_view(pilot)
        table = screen.query_one(QuantTable)
        hists = screen.query_one(QuantHistograms)
        index = next(i for i, r in enumerate(table.rows_shown) if r.layer is None)
        table.move_cursor(row=index)  # a further activation (pool, flatten...): no weight
        await pilot.press("enter")
        await wait_idle(pilot)
        act = table.rows_shown[index].act
        assert hists.stats is not None and act.float_name in str(hists.border_title)
        f, q = hists.stats
        assert f.edges == q.edges  # one shared range
        fm, batch = screen._run.float_model, screen._run.batch
        want = capture(fm, batch, mode="tensors", keep=[act.float_name])
        assert f.numel == want.activations[act.float_name].values.numel()
        assert "activation SQNR" in hists.caption

        layer = next(i for i, r in enumerate(table.rows_shown) if r.layer is not None)
        table.move_cursor(row=layer)
        await wait_idle(pilot)
        assert "· weight " in str(hists.border_title)
        await pilot.press("a")  # the layer's output instead of its weight
        await wait_idle(pilot)
        out = table.rows_shown[layer].layer.activation
        assert f"· activation {out.float_name}" in str(hists.border_title)
        assert hists.stats[0].shape == (RANDOM_SAMPLES, *out.shape)


async def test_model_without_twin_gets_a_clear_message(hurt_dir: Path, make_app) -> None:
    app = make_app(hurt_dir / "lonely.pt")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("Q")
        await wait_idle(pilot)
        assert isinstance(app.screen, InspectorScreen)  # stays: nothing to compare
        warnings = [n for n in app._notifications if n.severity == "warning"]
        assert warnings and "lonely.pt has no float/quantized twin" in warnings[-1].message


async def test_twinless_model_opened_directly_shows_message(hurt_dir: Path, make_app) -> None:
    # The screen finds twins itself when the picker shows another folder.
    app = make_app(hurt_dir / "lonely.pt")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await app.push_screen(QuantizationScreen(hurt_dir / "lonely.pt"))
        await wait_idle(pilot)
        text = app.screen.query_one(QuantSummary).text
        assert "lonely.pt has no float/quantized twin" in text and "Escape goes back" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, InspectorScreen)


async def test_picker_marks_twins(hurt_dir: Path, make_app) -> None:
    app = make_app(hurt_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        picker = app.screen.query_one(ModelPicker)
        marked = {Path(o.id).name: "⇄" in plain(o.prompt) for o in picker.options if o.id}
        assert marked == {"lonely.pt": False, "smallcnn.onnx": True, "smallcnn_int8.onnx": True}


async def test_palette_copy_and_export(
    hurt_dir: Path, make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from layerscope.tui.commands import LayerscopeCommands

    monkeypatch.chdir(tmp_path)
    copied: list[str] = []
    app = make_app(hurt_dir / "smallcnn_int8.onnx")
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant_view(pilot)
        titles = [t for t, _, _ in LayerscopeCommands(screen)._available()]
        assert "quant: copy exclude list" in titles
        assert "quant: compare with next twin" not in titles  # one twin only
        await pilot.press("ctrl+p", *"copy exclude")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_idle(pilot)
        assert copied == [repr(screen.result.suggest_exclude())]
        await pilot.press("e")
        await wait_idle(pilot)
        saved = hurt_dir / "layerscope" / "smallcnn_vs_smallcnn_int8.quant.json"  # issue 17
        data = json.loads(saved.read_text())
        assert data["suggest_exclude"] == screen.result.suggest_exclude()
        assert not math.isnan(float(data["threshold_db"]))


class TestSnapshot:
    def test_quantization_view(
        self, snap_compare, make_app, hurt_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(hurt_dir.parent)  # relative paths: no temp folder names on screen

        async def run_before(pilot) -> None:  # the worst row: an activation, clipped
            await settle(pilot)
            await pilot.press("Q")
            await settle(pilot)

        app = make_app("models/smallcnn_int8.onnx")
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def test_escape_stops_a_running_comparison(
    hurt_dir: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import layerscope.engine.quant_compare as qc

    started, seen_cancel = threading.Event(), threading.Event()

    def slow_compare(*args, progress=None, cancel=None, **kwargs):
        started.set()
        while not cancel.wait(0.05):  # a comparison that only ends when cancelled
            progress("weights", 0, 3)
        seen_cancel.set()
        raise qc.ComparisonCancelled("comparison cancelled")

    monkeypatch.setattr(qc, "compare", slow_compare)
    app = make_app(hurt_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("Q")
        for _ in range(200):
            await pilot.pause(0.05)
            if started.is_set():
                break
        screen = app.screen
        assert isinstance(screen, QuantizationScreen) and screen.comparing
        assert "Comparing smallcnn.onnx ⇄ smallcnn_int8.onnx" in screen.summary.text
        await pilot.press("escape")  # the UI answers at once; the engine sees the event
        await pilot.pause()
        assert isinstance(app.screen, InspectorScreen)
        await wait_idle(pilot)
        assert seen_cancel.is_set()
        assert not [n for n in app._notifications if n.severity == "error"]


async def test_engine_error_is_a_notification_not_a_crash(
    hurt_dir: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(hurt_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant_view(pilot)
        await pilot.press("n", "ctrl+u", *"nowhere.png", "enter")  # not an input source
        await wait_idle(pilot)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert errors and "nowhere.png" in errors[-1].message
        assert "nowhere.png" in screen.summary.text  # the summary says what failed
        assert app.screen is screen  # still there: Escape goes back, n tries other inputs


async def test_lower_threshold_unflags_rows(hurt_dir: Path, make_app) -> None:
    app = make_app(hurt_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant_view(pilot)
        assert any(r.flagged for r in screen.table.rows_shown)
        await pilot.press("h", "ctrl+u", *"-50", "enter")  # nothing is that bad
        await wait_idle(pilot)
        assert screen.result is not None and screen.result.threshold_db == -50
        assert not any(r.flagged for r in screen.table.rows_shown)
        assert "flagged 0 of 3 layers" in screen.summary.text
        await pilot.press("h", "ctrl+u", *"abc", "enter")  # refused, nothing recomputed
        await pilot.pause()
        assert any("threshold must be a number" in n.message for n in app._notifications)
        await pilot.press("escape")  # puts the field back, stays in the view
        assert screen.query_one("#quant-threshold").value == "-50"
        assert app.screen is screen


async def test_g_shows_the_row_layer_in_the_inspector(hurt_dir: Path, make_app) -> None:
    from layerscope.tui.widgets.layer_tree import LayerTree

    app = make_app(hurt_dir / "smallcnn.onnx")  # the float side is open in the inspector
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant_view(pilot)
        table = screen.query_one(QuantTable)
        index = next(i for i, r in enumerate(table.rows_shown) if r.layer is not None)
        table.move_cursor(row=index)
        want = table.rows_shown[index].layer.float_layer
        await pilot.press("g")
        await wait_idle(pilot)
        assert isinstance(app.screen, InspectorScreen)
        tree = app.screen.query_one(LayerTree)
        assert tree.has_focus and tree.current_layer == want


async def test_unpaired_variant_is_told_which_files_pair(model_dir: Path, make_app) -> None:
    # smallcnn.pt sits beside smallcnn_int8.onnx, but the engine pairs that with smallcnn.onnx.
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("Q")
        await wait_idle(pilot)
        assert isinstance(app.screen, InspectorScreen)
        warnings = [n.message for n in app._notifications if n.severity == "warning"]
        assert warnings and warnings[-1].startswith("smallcnn.pt is not paired")
        assert "smallcnn.onnx ⇄ smallcnn_int8.onnx" in warnings[-1]


async def test_t_compares_with_the_next_twin(hurt_dir: Path, make_app, tmp_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = tmp_path / "models"
    shutil.copytree(hurt_dir, folder)
    quantize_dynamic(
        str(folder / "smallcnn.onnx"), str(folder / "smallcnn_uint8.onnx"),
        weight_type=QuantType.QUInt8,
    )  # fmt: skip
    app = make_app(folder / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant_view(pilot)
        assert "smallcnn.onnx ⇄ smallcnn_int8.onnx  (twin 1 of 2, t: next)" in screen.summary.text
        await pilot.press("t")
        await wait_idle(pilot, 120)
        assert "smallcnn.onnx ⇄ smallcnn_uint8.onnx  (twin 2 of 2, t: next)" in screen.summary.text
        assert screen.result is not None and screen.result.quant_path.endswith("_uint8.onnx")
        assert screen.table.rows_shown  # the new pair's rows


async def test_t_with_one_twin_says_so_and_stays(hurt_dir: Path, make_app) -> None:
    app = make_app(hurt_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant_view(pilot)
        await pilot.press("t")  # not the app's t (Train): this screen keeps the key
        await pilot.pause()
        assert app.screen is screen
        assert any("are the only twins here" in n.message for n in app._notifications)


async def test_histogram_failure_is_a_hint_and_a_notification(
    hurt_dir: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    import layerscope.tui.screens.quantization as qv
    from layerscope.engine.errors import LayerscopeError

    def broken(*args, **kwargs):
        raise LayerscopeError("/features/features.2/MaxPool_output_0 could not be captured again")

    monkeypatch.setattr(qv, "activation_histograms", broken)
    app = make_app(hurt_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_quant_view(pilot)  # the worst row is an activation: it fails
        hists = screen.query_one(QuantHistograms)
        assert hists.stats is None and hists.hint.startswith("No histograms: ")
        assert any("could not be captured" in n.message for n in app._notifications)
        assert "smallcnn.onnx ⇄ smallcnn_int8.onnx" in screen.summary.text  # summary intact
