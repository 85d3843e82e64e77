"""Gradients in capture: each module's output gradient and each parameter's gradient, checked
against plain ``torch.autograd``; the report (schema v2) carries them and v1 reports still read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from capture_models import ConvNet

from layerscope.engine import report
from layerscope.engine.capture import capture
from layerscope.engine.cli import main
from layerscope.engine.errors import InputError
from layerscope.engine.zoo import SmallCNN


def _reference(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor, loss: str):
    """Output and parameter gradients by hand: tensor hooks on each module's output, autograd."""
    model = model.eval()
    outs: dict[str, torch.Tensor] = {}
    grads: dict[str, torch.Tensor] = {}

    def hook(name):  # noqa: ANN001, ANN202
        def fn(_m, _a, out):  # noqa: ANN001, ANN202
            outs[name] = out
            out.register_hook(lambda g: grads.__setitem__(name, g.detach().clone()))

        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    model.zero_grad(set_to_none=True)
    y = model(x)
    value = F.cross_entropy(y, target) if loss == "ce" else F.mse_loss(y, target)
    value.backward()
    for h in handles:
        h.remove()
    params = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return grads, params


def _close(stats, t: torch.Tensor) -> None:
    v = t.detach().double().numpy().ravel()
    assert stats.numel == v.size
    # Batches sum their shares in another order than one batch: float32 rounding, scaled by spread.
    tol = 1e-5 * float(np.abs(v).max()) + 1e-12
    assert stats.min == pytest.approx(v.min(), rel=1e-5, abs=tol)
    assert stats.max == pytest.approx(v.max(), rel=1e-5, abs=tol)
    assert stats.mean == pytest.approx(v.mean(), rel=1e-4, abs=tol)
    assert stats.std == pytest.approx(v.std(), rel=1e-4, abs=tol)
    assert sum(stats.counts) == v.size


@pytest.mark.parametrize("batch_size", [None, 3])  # one pass, and several batches (two passes)
def test_gradient_statistics_match_autograd_for_a_class_target(batch_size) -> None:
    torch.manual_seed(0)
    model = ConvNet()
    x = torch.randn(7, 3, 8, 8)
    target = torch.tensor([0, 1, 2, 3, 4, 0, 1])
    want_out, want_params = _reference(model, x, target, "ce")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    result = capture(model, x, gradients=True, target=target.numpy(), batch_size=batch_size)

    assert set(result.gradients) == {"conv", "relu", "pool", "flatten", "fc", "(output)"}
    for name in ("conv", "relu", "pool", "flatten", "fc"):
        _close(result.gradients[name].stats, want_out[name])
    _close(result.gradients["(output)"].stats, want_out["fc"])
    assert set(result.parameter_gradients) == set(want_params)
    for name, g in want_params.items():
        _close(result.parameter_gradients[name].stats, g)
        assert result.parameter_gradients[name].layer == name.rsplit(".", 1)[0]
    assert result.gradient_target["loss"] == "cross_entropy"
    # The user's model is left as it was: no .grad, same weights, still in eval mode.
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    # Activations are still there, as without gradients.
    assert set(result.activations) >= {"conv", "fc", "(output)"}


def test_predicted_class_and_target_array_targets() -> None:
    torch.manual_seed(1)
    model = ConvNet()
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        predicted = model.eval()(x).argmax(1)
    want, _ = _reference(model, x, predicted, "ce")
    got = capture(model, x, gradients=True, target="predicted")
    _close(got.gradients["conv"].stats, want["conv"])
    assert got.gradient_target["target"] == "predicted class"

    goal = torch.randn(4, 5)
    want, params = _reference(model, x, goal, "mse")
    got = capture(model, x, gradients=True, target=goal.numpy())
    assert got.gradient_target["loss"] == "mse"
    _close(got.gradients["fc"].stats, want["fc"])
    _close(got.parameter_gradients["conv.weight"].stats, params["conv.weight"])

    one_class = capture(model, x, gradients=True, target=3)
    want, _ = _reference(model, x, torch.full((4,), 3), "ce")
    _close(one_class.gradients["pool"].stats, want["pool"])


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        (None, "needs a target"),
        (12, "class 12 is out of range"),
        (np.zeros((2, 5), dtype=np.float32), "shape"),
        ("banana", "target"),
    ],
)
def test_bad_targets_are_one_line_errors(target, needle: str) -> None:
    model = ConvNet()
    with pytest.raises(InputError) as err:
        capture(model, torch.randn(4, 3, 8, 8), gradients=True, target=target)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_report_v2_carries_gradients_and_v1_still_reads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    result = capture(ConvNet(), torch.randn(2, 3, 8, 8), gradients=True, target="predicted")
    path = report.save(report.from_capture(result), tmp_path / "r.json")
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == report.SCHEMA_VERSION == 2
    assert raw["capture"]["gradients"]["target"] == "predicted class"
    assert raw["tensors"]["conv"]["grad_stats"]["numel"] == 2 * 4 * 8 * 8
    assert raw["parameters"]["fc.weight"]["grad_stats"]["numel"] == 20
    back = report.load(path)
    assert back.tensors["conv"].grad_stats.numel == 2 * 4 * 8 * 8
    assert back.parameters["fc.weight"].grad_stats.std == pytest.approx(
        result.parameter_gradients["fc.weight"].stats.std
    )
    # A report without gradients has no grad_stats; a v1 file (no such fields) still loads.
    plain = report.from_capture(capture(ConvNet(), torch.randn(2, 3, 8, 8)))
    assert plain.to_dict()["tensors"]["conv"]["grad_stats"] is None
    raw["schema_version"] = 1
    for t in raw["tensors"].values():
        t.pop("grad_stats")
    raw.pop("parameters")
    raw["capture"].pop("gradients")
    old = tmp_path / "v1.json"
    old.write_text(json.dumps(raw))
    v1 = report.load(old)
    assert v1.schema_version == 1 and v1.tensors["conv"].grad_stats is None and not v1.parameters


def test_cli_capture_gradients_writes_them(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    model = tmp_path / "small.pt"
    torch.save(SmallCNN().state_dict(), model)
    out = tmp_path / "out"
    common = [str(model), "--arch", "smallcnn", "--input", "digits:0-3", "--out", str(out)]
    assert main(["capture", *common, "--gradients", "--target", "label", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["capture"]["gradients"]["target"] == "dataset labels"
    assert printed["tensors"]["features.0"]["grad_stats"]["nan"] == 0
    assert printed["parameters"]["classifier.weight"]["grad_stats"]["numel"] == 160
    assert main(["capture", *common, "--gradients", "--target", "2"]) == 0
    assert "gradient" in capsys.readouterr().out
    npy = tmp_path / "t.npy"
    np.save(npy, np.array([1, 2, 3, 4]))
    assert main(["capture", *common, "--gradients", "--target", str(npy)]) == 0
    capsys.readouterr()
    # --target without --gradients, and a bad target, are one line each.
    assert main(["capture", *common, "--target", "2"]) == 2
    assert "--target needs --gradients" in capsys.readouterr().err
    assert main(["capture", *common, "--gradients", "--target", "x.npy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("layerscope: ") and err.count("\n") == 1


def test_capture_session_answers_gradients_with_bins_and_exact_ranges(tmp_path: Path) -> None:
    """What the app's Weights | Activations | Gradients toggle asks: a gradient at any bin count
    and the exact count of its values in a range, for outputs and parameters alike."""
    import threading

    from layerscope.engine.loaders.torch_loader import model_from_module
    from layerscope.engine.usecases.activations import CaptureSession

    torch.manual_seed(0)
    net = ConvNet()
    model = model_from_module(tmp_path / "convnet.pt", "torch-module", net, "cpu")
    cancel = threading.Event()
    session = CaptureSession.run(
        model, "random:3x8x8", seed=0, bins=20, device="cpu", progress=None, cancel=cancel,
        gradients=True, target=2,
    )  # fmt: skip
    x = session.batch.tensor
    want, params = _reference(net, x, torch.full((1,), 2), "ce")
    got = session.cached("conv", "conv", 20, None, None, view="grad")
    assert got is not None and got.view == "grad" and got.has_grad
    _close(got.stats, want["conv"])
    assert session.cached("conv", "conv", 7, None, None, view="grad") is None  # needs a re-run
    seven = session.fetch("conv", "conv", 7, None, None, cancel, view="grad")
    assert len(seven.stats.counts) == 7 and sum(seven.stats.counts) == want["conv"].numel()
    g = want["conv"].flatten()
    lo, hi = float(g.quantile(0.25)), float(g.quantile(0.75))
    ranged = session.fetch("conv", "conv", 20, lo, hi, cancel, view="grad")
    assert ranged.in_range == int(((g >= lo) & (g <= hi)).sum())
    w = params["fc.weight"].flatten()
    pw = session.fetch("fc", "fc.weight", 20, float(w.min()), 0.0, cancel, view="grad")
    assert pw.view == "grad" and pw.in_range == int((w <= 0).sum())
    _close(pw.stats, params["fc.weight"])
    plain = session.cached("conv", "conv", 20, None, None)
    assert plain.view == "float" and plain.has_grad and plain.stats.numel == g.numel()
