"""Hook capture on torch modules: naming, errors, hook removal, modes, batches."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
import torch
from capture_models import ConvNet, SharedNet, TupleDictNet

from layerscope.engine.capture import CaptureCancelled, capture
from layerscope.engine.capture import sink as sink_mod
from layerscope.engine.errors import InputError
from layerscope.engine.stats import compute


def _no_hooks(model: torch.nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


def test_tuple_and_dict_outputs_are_split_into_named_tensors() -> None:
    net = TupleDictNet()
    x = torch.randn(2, 4)
    r = capture(net, x)
    assert {
        "split.0",
        "split.1",
        "heads.logits",
        "heads.features",
        "heads.fc",
        "(output).logits",
    } <= set(r.activations)
    assert r.activations["split.0"].stats.min == 0.0  # the relu half
    assert r.activations["split.1"].stats.max == pytest.approx(float((-x).max()))
    assert r.activations["heads.logits"].shape == (2, 3)
    assert r.activations["heads.logits"].layer == "heads"


def test_shared_module_calls_get_their_own_names() -> None:
    torch.manual_seed(0)
    net = SharedNet()
    x = torch.randn(3, 4)
    r = capture(net, x, mode="tensors")
    first, second = r.activations["lin"], r.activations["lin#2"]
    assert first.layer == second.layer == "lin"
    torch.testing.assert_close(first.values, net.lin(x))
    torch.testing.assert_close(second.values, net.lin(net.act(net.lin(x))))
    assert r.for_layer("lin") == [first, second]


def test_failing_stats_is_that_layers_error_and_others_still_capture(
    convnet: ConvNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sink_mod.Sink.add

    def add(self, name, layer, kind, x, quant=None):  # noqa: ANN001, ANN202
        if name == "relu":
            raise RuntimeError("boom in relu")
        return real(self, name, layer, kind, x, quant)

    monkeypatch.setattr(sink_mod.Sink, "add", add)
    r = capture(convnet, torch.randn(2, 3, 8, 8))
    assert r.errors == {"relu": "RuntimeError: boom in relu"}
    assert "relu" not in r.activations
    assert {"conv", "pool", "fc", "(output)"} <= set(r.activations)
    assert _no_hooks(convnet)


def test_hooks_removed_and_mode_restored_when_forward_fails(convnet: ConvNet) -> None:
    convnet.train()
    with pytest.raises(
        InputError, match=r"forward pass failed on an input of shape \(2, 5, 8, 8\)"
    ):
        capture(convnet, torch.randn(2, 5, 8, 8))
    assert _no_hooks(convnet)
    assert all(m.training for m in convnet.modules())


def test_capture_runs_in_eval_mode_without_touching_batchnorm() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)).train()
    before = net[1].running_mean.clone()
    capture(net, torch.randn(4, 3, 8, 8) + 5)
    torch.testing.assert_close(net[1].running_mean, before)
    assert net.training and _no_hooks(net)


def test_stats_mode_keeps_no_values_and_tensors_mode_keeps_the_asked_ones(convnet: ConvNet) -> None:
    x = torch.randn(2, 3, 8, 8)
    stats_only = capture(convnet, x)
    assert all(a.values is None for a in stats_only.activations.values())
    kept = capture(convnet, x, mode="tensors", keep=["conv"])
    assert [n for n, a in kept.activations.items() if a.values is not None] == ["conv"]
    values = kept.activations["conv"].values
    assert values.device.type == "cpu" and values.dtype == torch.float32
    torch.testing.assert_close(values, convnet.conv(x))
    ref = compute(values)
    got = stats_only.activations["conv"].stats
    assert (got.min, got.max, got.zeros, got.numel) == (ref.min, ref.max, ref.zeros, ref.numel)
    assert got.mean == pytest.approx(ref.mean, rel=1e-5, abs=1e-9)
    assert got.std == pytest.approx(ref.std, rel=1e-5)


def test_histograms_are_exact_for_their_edges(convnet: ConvNet) -> None:
    r = capture(convnet, torch.randn(4, 3, 8, 8), mode="tensors")
    for a in r.activations.values():
        vals = a.values.double().numpy().ravel()
        counts, _ = np.histogram(vals, bins=np.array(a.stats.edges))
        assert counts.tolist() == a.stats.counts, a.name


def test_several_batches_give_the_same_statistics_as_one(convnet: ConvNet) -> None:
    x = torch.randn(7, 3, 8, 8)
    one = capture(convnet, x)
    many = capture(convnet, x, batch_size=3)
    assert (many.batches, many.passes, one.passes) == (3, 2, 1)
    for name, a in one.activations.items():
        b = many.activations[name].stats
        s = a.stats
        assert (b.shape, b.min, b.max, b.zeros, b.counts, b.edges) == (
            s.shape, s.min, s.max, s.zeros, s.counts, s.edges,
        ), name  # fmt: skip
        assert b.mean == pytest.approx(s.mean, rel=1e-6, abs=1e-9)
        assert b.std == pytest.approx(s.std, rel=1e-6)


def test_cancel_stops_and_removes_hooks(convnet: ConvNet) -> None:
    cancel = threading.Event()
    seen: list[str] = []

    def progress(done: int, total: int | None, name: str) -> None:
        seen.append(name)
        cancel.set()

    with pytest.raises(CaptureCancelled):
        capture(convnet, torch.randn(1, 3, 8, 8), progress=progress, cancel=cancel)
    assert seen == ["conv"]
    assert _no_hooks(convnet)


def test_torchscript_captures_the_output_and_says_what_is_missing(convnet: ConvNet) -> None:
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(convnet), buf)
    buf.seek(0)
    scripted = torch.jit.load(buf)
    x = torch.randn(2, 3, 8, 8)
    r = capture(scripted, x)
    assert list(r.activations) == ["(output)"]
    with torch.no_grad():
        expected = float(convnet(x).mean())
    assert r.activations["(output)"].stats.mean == pytest.approx(expected, rel=1e-5)
    assert r.model_format == "torchscript"
    assert len(r.not_available) == 1 and "forward hooks cannot fire" in r.not_available[0]


def test_nan_activations_are_counted_not_dropped() -> None:
    net = torch.nn.Sequential(torch.nn.Identity())
    x = torch.tensor([[1.0, float("nan"), float("inf"), 0.0]])
    s = capture(net, x).activations["0"].stats
    assert (s.nan, s.posinf, s.zeros, s.min, s.max) == (1, 1, 1, 0.0, 1.0)


def test_bad_mode_is_an_input_error(convnet: ConvNet) -> None:
    with pytest.raises(InputError, match="capture mode must be one of stats, tensors"):
        capture(convnet, torch.randn(1, 3, 8, 8), mode="everything")


def test_scripted_submodule_is_reported_not_fatal(convnet: ConvNet) -> None:
    convnet.conv = torch.jit.script(convnet.conv)
    r = capture(convnet, torch.randn(1, 3, 8, 8))
    assert "forward hooks cannot fire" in r.errors["conv"]
    assert {"relu", "fc", "(output)"} <= set(r.activations) and "conv" not in r.activations
    assert _no_hooks(convnet)
