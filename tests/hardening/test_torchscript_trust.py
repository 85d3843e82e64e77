"""TorchScript is code: without trust, no verb and no app flow may load or run it.

Each hostile archive writes a marker file when ``torch.jit.load`` calls its ``__setstate__``, or
when its ``forward`` runs. Without trust the marker must never appear, and the archive's tensors
are still listed (exactly) from its pickle; with trust it loads and runs as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hostile_torchscript import write_hostile

from layerscope.engine.cli import main
from layerscope.engine.errors import UntrustedPickleError
from layerscope.engine.loaders import load_model

KINDS = ("setstate", "forward")


@pytest.fixture(params=KINDS)
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    return write_hostile(tmp_path, request.param)


def _one_line_trust_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "TorchScript is code" in err and "--trust" in err, err
    return err


def test_load_model_lists_without_running(hostile: tuple[Path, Path]) -> None:
    path, marker = hostile
    model = load_model(path)
    assert not marker.exists()
    assert model.format == "torchscript"
    assert model.module is None and not model.runnable
    assert "TorchScript is code" in model.metadata["needs_trust"]
    names = {t.name for t in model.tensors()}
    assert {"fc.weight", "fc.bias", "steps"} <= names
    assert model.layers["fc"].kind == "Linear" and model.layers["hostile"].kind
    for ref in model.tensors():
        ref.load()
    assert not marker.exists()


def test_listed_tensors_equal_what_jit_load_gives(hostile: tuple[Path, Path]) -> None:
    path, marker = hostile
    listed = {t.name: t for t in load_model(path).tensors()}
    loaded = torch.jit.load(str(path))  # trusted on purpose: the reference values
    expected = dict(loaded.named_parameters()) | dict(loaded.named_buffers())
    for name in ("fc.weight", "fc.bias", "steps"):
        ref = listed[name]
        got = ref.load()
        assert ref.dtype == str(expected[name].dtype).removeprefix("torch.")
        assert tuple(ref.shape) == tuple(expected[name].shape)
        assert torch.equal(got, expected[name].detach())
    hostile_weight = [t for n, t in listed.items() if n.startswith("hostile.")]
    assert len(hostile_weight) == 1  # listed as saved, even behind a custom __setstate__
    assert torch.equal(hostile_weight[0].load(), loaded.hostile.weight.detach())


def test_trusted_load_runs_as_before(hostile: tuple[Path, Path]) -> None:
    path, marker = hostile
    model = load_model(path, trust=True)
    assert model.format == "torchscript" and model.runnable
    model.module(torch.zeros(1, 4))
    assert marker.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["inspect", "{path}"],
        ["inspect", "{path}", "--layer", "fc"],
        ["inspect", "{path}", "--summary"],
        ["inspect", "{path}", "--json"],
    ],
)
def test_inspect_verbs_do_not_run_code(
    hostile: tuple[Path, Path], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path, marker = hostile
    assert main([a.format(path=path) for a in argv]) == 0
    assert not marker.exists()
    assert "fc" in capsys.readouterr().out


def test_capture_without_trust_is_one_line(
    hostile: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, marker = hostile
    out = tmp_path / "reports"
    assert main(["capture", str(path), "--input", "random", "--out", str(out)]) == 2
    _one_line_trust_error(capsys)
    assert not marker.exists() and not any(tmp_path.glob("reports/*"))


def test_capture_with_trust_runs(
    hostile: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, marker = hostile
    out = tmp_path / "reports"
    assert main(["capture", str(path), "--input", "random", "--trust", "--out", str(out)]) == 0
    assert marker.exists() and any(out.glob("*.json"))


def test_quant_compare_without_trust_is_one_line(
    hostile: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path, marker = hostile
    assert main(["quant-compare", str(path), str(path)]) == 2
    _one_line_trust_error(capsys)
    assert not marker.exists()


def test_engine_capture_raises_untrusted_error(hostile: tuple[Path, Path]) -> None:
    from layerscope.engine.capture import capture

    path, marker = hostile
    with pytest.raises(UntrustedPickleError, match="TorchScript is code"):
        capture(load_model(path), torch.zeros(1, 4))
    assert not marker.exists()


# -- quantized TorchScript (torch.ao int8: quantized tensors and packed conv/linear params) ------


def _quantized_script(folder: Path) -> Path:
    import torch.ao.quantization as tq

    class Small(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
            self.conv = torch.nn.Conv2d(1, 2, 3)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.dequant(self.fc(self.conv(self.quant(x)).flatten(1)))

    torch.manual_seed(0)
    model = Small().eval()
    model.qconfig = tq.get_default_qconfig("fbgemm")
    prepared = tq.prepare(model)
    prepared(torch.randn(8, 1, 4, 4))
    path = folder / "small-int8.pt"
    torch.jit.save(torch.jit.script(tq.convert(prepared)), str(path))
    return path


@pytest.mark.filterwarnings("ignore")
def test_quantized_torchscript_lists_int8_weights_exactly(tmp_path: Path) -> None:
    path = _quantized_script(tmp_path)
    listed = load_model(path)
    assert listed.module is None and "needs_trust" in listed.metadata
    trusted = load_model(path, trust=True)
    want = {t.name: t for t in trusted.tensors()}
    got = {t.name: t for t in listed.tensors()}
    for name in ("conv.weight", "fc.weight"):
        assert name in got, sorted(got)
        assert got[name].dtype == want[name].dtype
        assert got[name].quant is not None
        assert torch.equal(got[name].load(), want[name].load())
        assert (got[name].quant.scale == want[name].quant.scale).all()
        assert (got[name].quant.zero_point == want[name].quant.zero_point).all()
        assert got[name].quant.axis == want[name].quant.axis
    for name in ("conv.bias", "fc.bias"):
        assert torch.equal(got[name].load(), want[name].load())


# -- the app: opening lists, capturing asks first ---------------------------------------------


async def _idle(pilot) -> None:  # noqa: ANN001 - textual's Pilot
    """Let every worker finish and its messages be handled (as tests/tui's ``wait_idle``)."""
    from textual.worker import WorkerFailed, WorkerState

    quiet = 0
    for _ in range(2000):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerFailed:
            pass
        await pilot.pause()
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers)
        quiet = 0 if busy else quiet + 1
        if quiet >= 3:
            return
    raise AssertionError("workers still running")


async def _ask_random_capture(pilot) -> None:  # noqa: ANN001
    from textual.widgets import Select

    from layerscope.tui.widgets.input_source import InputSource

    pilot.app.screen.query_one("#source-kind", Select).value = "random"
    await pilot.pause()
    assert pilot.app.screen.query_one(InputSource).kind == "random"
    await pilot.press("c", "0", "enter")  # c: the seed field; seed 0, Enter: capture
    await _idle(pilot)


async def test_app_opens_lists_and_asks_before_capture(hostile: tuple[Path, Path]) -> None:
    from textual.widgets import Label

    from layerscope.tui.app import LayerscopeApp
    from layerscope.tui.screens.inspector import InspectorScreen
    from layerscope.tui.widgets.input_source import InputSource

    path, marker = hostile
    app = LayerscopeApp(path, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await _idle(pilot)
        screen = app.screen
        assert isinstance(screen, InspectorScreen) and screen.model is not None
        assert screen.model.format == "torchscript" and screen.model.module is None
        assert not marker.exists()
        await _ask_random_capture(pilot)
        assert type(app.screen).__name__ == "ConfirmTrust"
        text = " ".join(str(label.render()) for label in app.screen.query(Label))
        assert "TorchScript is code" in text
        assert not marker.exists()
        await pilot.press("escape")  # decline: still listed, nothing ran
        await _idle(pilot)
        assert app.screen is screen and screen.model.module is None
        assert screen.query_one(InputSource).session is None
        assert not marker.exists()
        await _ask_random_capture(pilot)
        assert type(app.screen).__name__ == "ConfirmTrust"
        await pilot.press("y")  # trust: loads, then runs the capture that was asked for
        await _idle(pilot)
        assert app.screen is screen and screen.model.module is not None
        assert screen.query_one(InputSource).session is not None
        assert marker.exists()


# -- the demo's TorchScript (torch.ao FX int8, traced): listed exactly; the app runs it trusted ---


@pytest.fixture(scope="module")
def demo_int8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from layerscope.engine import zoo
    from layerscope.engine.demo.common import load_digits
    from layerscope.engine.demo.export import save_torch_int8

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("demo_ts") / "resnet8_int8.pt"
    save_torch_int8(zoo.build("resnet8").eval(), load_digits(), path)
    return path


@pytest.mark.slow  # a calibrated FX int8 ResNet8, as `layerscope demo` writes it
@pytest.mark.filterwarnings("ignore")
def test_demo_torchscript_lists_what_trust_loads(demo_int8: Path) -> None:
    listed = load_model(demo_int8)
    assert listed.module is None and listed.is_quantized
    trusted = load_model(demo_int8, trust=True)
    want = {t.name: t for t in trusted.tensors()}
    got = {t.name: t for t in listed.tensors()}
    assert set(got) == set(want)
    for name, ref in want.items():
        assert got[name].dtype == ref.dtype and got[name].shape == ref.shape, name
        assert torch.equal(got[name].load(), ref.load()), name
    assert list(listed.layers) == list(trusted.layers)
    assert [list(lay.tensors) for lay in listed.layers.values()] == [
        list(lay.tensors) for lay in trusted.layers.values()
    ]
    assert [lay.kind for lay in listed.layers.values()] == [
        lay.kind for lay in trusted.layers.values()
    ]


@pytest.mark.slow  # a calibrated FX int8 ResNet8, as `layerscope demo` writes it
@pytest.mark.filterwarnings("ignore")
async def test_app_captures_the_demo_torchscript_after_confirmation(demo_int8: Path) -> None:
    from layerscope.tui.app import LayerscopeApp
    from layerscope.tui.widgets.input_source import InputSource

    app = LayerscopeApp(demo_int8, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await _idle(pilot)
        screen = app.screen
        assert screen.model is not None and screen.model.module is None
        await pilot.press("c", "0", "enter")  # digits, sample 0
        await _idle(pilot)
        assert type(app.screen).__name__ == "ConfirmTrust"
        await pilot.press("y")
        await _idle(pilot)
        assert app.screen is screen and screen.model.module is not None
        session = screen.query_one(InputSource).session
        assert session is not None and session.result.activations


# -- crafted archives: the listing itself never trusts the pickle's shapes -------------------------


def test_crafted_archive_with_a_foreign_global_is_refused_unrun(tmp_path: Path) -> None:
    import os

    from hostile_torchscript import scripted, write_crafted

    marker = tmp_path / "ran"
    root = scripted("M")()
    root.training = True
    root.payload = _Runs(str(marker))
    path = write_crafted(tmp_path / "foreign.pt", root)
    with pytest.raises(UntrustedPickleError, match="TorchScript is code"):
        load_model(path)
    assert not marker.exists() and os.path.exists(path)


class _Runs:
    """Pickles as ``os.makedirs(marker)``: a global the listing must refuse, never call."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        import os

        return (os.makedirs, (self.marker,))


def test_crafted_storage_dtype_and_deep_nesting_are_one_line_errors(tmp_path: Path) -> None:
    from hostile_torchscript import scripted, write_crafted

    from layerscope.engine.errors import LayerscopeError

    m = scripted("M")
    root = m()
    root.training = True
    root.w = ("storage-stand-in",)
    bad = write_crafted(tmp_path / "dtype.pt", root, {id(root.w): ("storage", "os", "0", "cpu", 4)})
    with pytest.raises(LayerscopeError):
        load_model(bad)
    deep = node = m()
    for _ in range(3000):
        node.training, node.child = True, m()
        node = node.child
    node.training = True
    with pytest.raises(LayerscopeError):
        load_model(write_crafted(tmp_path / "deep.pt", deep))
