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

from engine.cli import main
from engine.errors import UntrustedPickleError
from engine.loaders import clear_cache, load_model

KINDS = ("setstate", "forward")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_cache()  # a trusted load cached by one test must not answer another's untrusted one


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
    from engine.capture import capture

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
