"""Pilot tests of the capture bar and the Weights | Activations toggle, driven by keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from pilot_helpers import settle, wait_idle
from textual.widgets import Select

from layerscope.engine import load_model
from layerscope.engine.capture import capture
from layerscope.engine.inputs import load_input, model_input_shape
from layerscope.engine.stats import count_in_range
from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.widgets.activation_toggle import ActivationToggle
from layerscope.tui.widgets.histogram import DARK_ORANGE, Histogram
from layerscope.tui.widgets.input_source import InputSource
from layerscope.tui.widgets.log_pane import LogPane
from layerscope.tui.widgets.stats_panel import StatsPanel

SIZE = (120, 40)


def panel(app) -> dict[str, str]:
    return {k: str(v) for k, v in app.screen.query_one(StatsPanel).rows}


def bar(app) -> InputSource:
    return app.screen.query_one(InputSource)


def plot_text(app) -> str:
    return app.screen.query_one(Histogram).plt.build()


def engine_capture(path: Path, spec: str, arch: str | None = None, **kwargs: object):
    """The engine's own answer, to check the app shows exactly that."""
    model = load_model(path, arch=arch)
    return capture(model, load_input(spec, input_shape=model_input_shape(model)), **kwargs)


async def capture_digits(pilot, index: str = "3") -> None:
    """c (focus the index field, its text selected), type the index, Enter: capture."""
    await pilot.press("c", *index, "enter")
    await wait_idle(pilot)


@pytest.fixture
def script_model(tmp_path: Path) -> Path:
    """``smallcnn_script.pt``: TorchScript, where hooks cannot fire (only the output is captured)."""
    import torch

    from layerscope.engine.zoo import SmallCNN

    torch.manual_seed(0)
    path = tmp_path / "smallcnn_script.pt"
    torch.jit.script(SmallCNN().eval()).save(str(path))
    return path


@pytest.fixture
def qop_model(model_dir: Path, tmp_path: Path) -> Path:
    """``smallcnn_qop.onnx``: QOperator uint8 quantization (QLinearConv outputs stored integers)."""
    from tests.onnx_quantize_for_tests import quantize_static_onnx

    path = tmp_path / "smallcnn_qop.onnx"
    quantize_static_onnx(
        model_dir / "smallcnn.onnx", path, fmt="qoperator", weight_type="uint8"
    )  # activations uint8
    return path


async def test_capture_digits_on_torch_model_and_toggle(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt", arch="smallcnn")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        toggle = screen.query_one(ActivationToggle)
        assert bar(app).display and not toggle.display  # no toggle before a capture
        assert screen.check_action("toggle_activations", ()) is False

        await capture_digits(pilot)
        expected = engine_capture(model_dir / "smallcnn.pt", "digits:3", "smallcnn")
        status = bar(app).status.text
        assert status.startswith(f"{len(expected.activations)} tensors captured · input: digits[3]")
        assert "(label=3)" in status
        assert toggle.display and toggle.activations
        assert screen.tree.current_layer == "features.0"
        assert screen.query_one(StatsPanel).border_title == "Activation Statistics"
        shown = panel(app)
        act = expected.activations["features.0"]
        assert shown["tensor"] == "features.0"
        assert shown["shape"] == "1×8×32×32"
        assert shown["mean"] == f"{act.stats.mean:.5g}"
        histogram = screen.query_one(Histogram)
        assert "Activation Distribution" in plot_text(app)
        assert histogram.stats.counts == act.stats.counts
        assert histogram._args["role"] == "activation" and DARK_ORANGE != (0, 0, 0)

        await pilot.press("down")  # the next layer's activation
        await wait_idle(pilot)
        assert panel(app)["tensor"] == "features.1"

        await pilot.press("a")  # back to the weights
        await wait_idle(pilot)
        assert screen.query_one(StatsPanel).border_title == "Statistics"
        assert "Activation Distribution" not in plot_text(app)
        assert panel(app) == {}  # features.1 is a ReLU: no weights to show
        assert "has no tensors of its own" in screen.query_one(Histogram).hint
        await pilot.press("up")
        await wait_idle(pilot)
        assert panel(app)["tensor"] == "features.0.weight"
        assert "Weight Distribution" in plot_text(app)


async def test_capture_on_onnx_model(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        await capture_digits(pilot)
        expected = engine_capture(model_dir / "smallcnn.onnx", "digits:3")
        layer = screen.tree.current_layer
        assert layer == "/features/features.0/Conv"
        act = expected.for_layer(layer)[0]
        assert panel(app)["tensor"] == act.name
        assert panel(app)["std"] == f"{act.stats.std:.5g}"
        assert "Activation Distribution" in plot_text(app)
        assert bar(app).status.text.startswith(f"{len(expected.activations)} tensors captured")

        await pilot.press("up")  # up to the group: ONNX groups have no activation of their own
        await wait_idle(pilot)
        assert screen.tree.current_layer == "/features/features.0"
        assert "no captured activation" in bar(app).status.note
        assert "its layers have them, e.g. /features/features.0/Conv" in bar(app).status.note


async def test_bins_and_range_in_activation_view(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        await capture_digits(pilot)
        layer = screen.tree.current_layer
        await pilot.press("b", *"20", "enter")
        await wait_idle(pilot)
        at20 = engine_capture(model_dir / "smallcnn.onnx", "digits:3", bins=20).for_layer(layer)[0]
        assert screen.query_one(Histogram).stats.counts == at20.stats.counts

        await pilot.press("r", *"0", "enter", *"0.5", "enter")
        await wait_idle(pilot)
        kept = engine_capture(
            model_dir / "smallcnn.onnx", "digits:3", mode="tensors", keep=[at20.name]
        ).activations[at20.name]
        exact = count_in_range(kept.values, 0.0, 0.5)
        share = exact / kept.stats.numel
        assert panel(app)["in [0, 0.5]"] == f"{exact:,} ({share:.2%})"
        assert screen.query_one(StatsPanel).border_title == "Activation Statistics"
        assert "in range" in plot_text(app)


async def test_int_view_of_quantized_activation(qop_model: Path, make_app) -> None:
    app = make_app(qop_model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        await capture_digits(pilot)
        expected = engine_capture(qop_model, "digits:3")
        act = expected.for_layer(screen.tree.current_layer)[0]
        assert act.int_stats is not None and act.quant is not None
        assert screen.query_one(Histogram).stats.counts == act.stats.counts  # dequantized first
        assert screen.check_action("toggle_view", ()) is True
        await pilot.press("i")
        await wait_idle(pilot)
        assert screen.query_one(Histogram).stats.counts == act.int_stats.counts
        assert f"Activation Distribution ({act.quant.qdtype} values)" in plot_text(app)
        assert panel(app)["dtype"] == act.int_stats.dtype


async def test_layer_without_activation_keeps_weights(script_model: Path, make_app) -> None:
    app = make_app(script_model, trust=True)  # TorchScript is code: it runs only trusted
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        await capture_digits(pilot)
        assert screen.query_one(ActivationToggle).activations
        note = bar(app).status.note
        assert note == f"{screen.tree.current_layer}: no captured activation; showing its weights"
        assert "Weight Distribution" in plot_text(app)  # the weights stay on screen
        assert screen.query_one(StatsPanel).border_title == "Statistics"
        logged = "\n".join(line.text for line in app.backlog)
        assert "TorchScript" in logged  # why: the engine's not-available note reaches the log


async def test_changing_model_clears_activations(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        await capture_digits(pilot)
        assert bar(app).session is not None
        screen.open_model(model_dir / "smallcnn_int8.onnx")
        await wait_idle(pilot)
        assert bar(app).session is None
        assert not screen.query_one(ActivationToggle).display
        assert screen.query_one(StatsPanel).border_title == "Statistics"
        assert "Activation Distribution" not in plot_text(app)
        assert screen.check_action("toggle_activations", ()) is False


async def test_weights_only_model_offers_no_capture(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")  # a state dict without --arch cannot run
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        assert not bar(app).display
        assert screen.check_action("capture", ()) is False
        screen.action_run_capture()  # the palette's "activations: capture" says why not
        await wait_idle(pilot)
        assert any("--arch" in n.message for n in app._notifications)


async def test_missing_cifar10_folder_is_a_notification(
    model_dir: Path, make_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAYERSCOPE_CIFAR10", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)  # no ./data here either
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("c", "shift+tab")  # index field → source selector
        assert isinstance(app.focused, Select)
        await pilot.press("enter", "down", "enter")  # digits → CIFAR-10
        assert bar(app).kind == "cifar10"
        await pilot.press("tab", *"17", "enter")
        await wait_idle(pilot)
        messages = [n.message for n in app._notifications]
        assert any("CIFAR-10 python folder not found" in m for m in messages)
        assert "Capture failed" in bar(app).status.text
        log = app.screen.query_one(LogPane)
        assert any("CIFAR-10 python folder not found" in line.text for line in app.backlog)
        assert log is not None and bar(app).session is None


@pytest.fixture
def models_cwd(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run from the models' parent and open ``models/...``: no temp paths on screen."""
    monkeypatch.chdir(model_dir.parent)
    return "models"


class TestActivationSnapshots:
    @pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["wide", "small"])
    def test_activation_view(self, snap_compare, make_app, models_cwd: str, size) -> None:
        async def run_before(pilot) -> None:
            await settle(pilot)
            await pilot.press("c", "3", "enter")
            await settle(pilot)

        app = make_app(f"{models_cwd}/smallcnn.onnx")
        assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_escape_cancels_a_running_capture(
    model_dir: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    from layerscope.engine.capture import CaptureCancelled
    from layerscope.tui.activations import ActivationSession

    started = []

    def slow_run(cls, model, spec, *, seed, bins, device, progress, cancel):  # noqa: ANN001
        """A capture that only ends when cancelled, as the engine does on its cancel event."""
        started.append(spec)
        progress(1, 10, "features.0")
        if not cancel.wait(30):
            raise AssertionError("the cancel event was never set")
        raise CaptureCancelled("capture cancelled")

    monkeypatch.setattr(ActivationSession, "run", classmethod(slow_run))
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        await pilot.press("c", "3", "enter")
        for _ in range(50):  # the worker starts and reports progress
            await pilot.pause(0.05)
            if bar(app).status.text.startswith("Capturing… 1/10"):
                break
        assert started == ["digits:3"]
        assert bar(app).busy and bar(app).status.busy  # spinner up
        assert screen.check_action("cancel", ()) is True  # "esc Cancel" in the footer
        await pilot.press("escape")
        await wait_idle(pilot)
        assert bar(app).status.text == "Capture cancelled."
        assert not bar(app).status.busy and bar(app).session is None
        assert not any(n.severity == "error" for n in app._notifications)


@pytest.fixture
def split_model(tmp_path: Path) -> Path:
    """``split.onnx``: a conv whose output is split in two (one node, two output tensors)."""
    import torch

    class TwoHalves(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a, b = torch.split(self.conv(x), 4, dim=1)
            return a * b

    torch.manual_seed(0)
    path = tmp_path / "split.onnx"
    torch.onnx.export(
        TwoHalves().eval(), (torch.randn(1, 3, 32, 32),), str(path),
        input_names=["input"], output_names=["out"], dynamo=False,
    )  # fmt: skip
    return path


async def test_next_output_of_a_layer_with_two(split_model: Path, make_app) -> None:
    app = make_app(split_model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        await capture_digits(pilot)
        assert screen.check_action("next_output", ()) is False  # the conv has one output
        await pilot.press("down")  # /conv/Conv → /Split
        await wait_idle(pilot)
        assert screen.tree.current_layer == "/Split"
        assert panel(app)["tensor"] == "/Split_output_0"
        assert "1 of 2 outputs" in bar(app).status.text
        assert screen.check_action("next_output", ()) is True
        await pilot.press("n")
        await wait_idle(pilot)
        assert panel(app)["tensor"] == "/Split_output_1"
        assert "2 of 2 outputs" in bar(app).status.text


async def test_random_seed_and_npy_file_inputs(model_dir: Path, make_app, tmp_path: Path) -> None:
    import numpy as np

    batch = tmp_path / "batch.npy"
    np.save(batch, np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("c", "shift+tab", "enter", "down", "down", "enter")  # → random
        assert bar(app).kind == "random"
        assert bar(app).field.placeholder == "seed"
        await pilot.press("tab", "5", "enter")
        await wait_idle(pilot)
        assert "random normal N(0, 1), seed 5" in bar(app).status.text
        assert bar(app).session.batch.seed == 5

        await pilot.press("c", "shift+tab", "enter", "down", "enter")  # → file
        assert bar(app).kind == "file" and bar(app).field.value == ""
        await pilot.press("tab", *str(batch), "enter")
        await wait_idle(pilot)
        session = bar(app).session
        assert session.batch.source == "npy" and session.result.samples == 2
        assert "batch.npy" in bar(app).status.text


def test_session_reruns_once_per_bin_count_and_skips_superseded(model_dir: Path) -> None:
    import threading

    from layerscope.tui.activations import ActivationSession

    model = load_model(model_dir / "smallcnn.onnx")
    session = ActivationSession.run(
        model, "digits:3", seed=0, bins=50, device="cpu", progress=None, cancel=threading.Event()
    )
    layer = "/features/features.0/Conv"
    name = session.for_layer(layer)[0].name
    assert session.cached(layer, name, 20, None, None) is None  # needs a re-run
    stale = threading.Event()
    stale.set()
    assert session.fetch(layer, name, 20, None, None, stale) is None  # superseded: no work
    ready = session.fetch(layer, name, 20, None, None, threading.Event())
    assert ready is not None and len(ready.answer.stats.counts) == 20
    other = session.for_layer("/classifier/Gemm")[0].name
    assert session.cached("/classifier/Gemm", other, 20, None, None) is not None  # same pass
