"""Every format loads into the same Model shape, found by content, with values read on demand."""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from safetensors.torch import save_file

from layerscope.engine import load_model
from layerscope.engine.errors import (
    ArchitectureError,
    ModelFileError,
    NotFoundError,
    UnknownFormatError,
    UnsafePathError,
    UntrustedPickleError,
)
from layerscope.engine.loaders import sniff
from layerscope.engine.zoo import ResNet8


def _values(model, name: str) -> torch.Tensor:
    return model.tensor(name).load()


# --- PyTorch ---------------------------------------------------------------------------------


def test_state_dict_loads_lazily_with_guessed_kinds(tiny, tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"  # the extension says nothing; the content decides
    torch.save(tiny.state_dict(), path)
    model = load_model(path)
    assert model.format == "state-dict" and not model.runnable
    assert list(model.root.children) == ["conv", "bn", "fc"]
    assert model.layer("conv").kind == "~Conv2d" and model.layer("bn").kind == "~BatchNorm"
    assert set(model.layer("bn").tensors) >= {"weight", "bias", "running_mean", "running_var"}
    torch.testing.assert_close(_values(model, "fc.weight"), tiny.fc.weight.detach())
    assert model.param_count == sum(v.numel() for v in tiny.state_dict().values())


def test_whole_pickled_module_needs_trust(tiny, tmp_path: Path) -> None:
    path = tmp_path / "whole.pt"
    torch.save(tiny, path)
    with pytest.raises(UntrustedPickleError, match="--trust"):
        load_model(path)
    model = load_model(path, trust=True)
    assert model.format == "torch-module" and model.runnable
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(model.module(x), tiny(x))
    assert model.layer("conv").kind == "Conv2d"


class _Evil:
    """Unpickling this creates a file: the proof that code ran."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_pickle_runs_nothing_without_trust(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.ones(2), "payload": _Evil(str(marker))}, path)
    with pytest.raises(UntrustedPickleError):
        load_model(path)
    assert not marker.exists()
    # The same file with trust does run the payload: the refusal above is what protected us.
    load_model(path, trust=True)
    assert marker.exists()


def test_lightning_checkpoint_strips_prefix_and_binds_arch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = ResNet8().eval()
    ckpt = {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.6.6",
        "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
        "optimizer_states": [],
    }
    path = tmp_path / "run.ckpt"
    torch.save(ckpt, path)
    model = load_model(path)
    assert model.format == "lightning-ckpt"
    assert model.metadata["epoch"] == 3 and model.metadata["stripped_prefix"] == "model."
    assert "layer1" in model.root.children
    bound = load_model(path, arch="resnet8")
    assert bound.runnable and bound.layer("layer1.conv1").kind == "Conv2d"
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(bound.module(x), net(x))


def test_arch_mismatch_lists_missing_and_unexpected_keys(tiny, tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(tiny.state_dict(), path)
    with pytest.raises(ArchitectureError, match=r"missing .*key.*unexpected .*key") as exc:
        load_model(path, arch="resnet8")
    assert "conv1.weight" in str(exc.value) and "\n" not in str(exc.value)


def test_unknown_arch_is_a_clear_error(tiny, tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(tiny.state_dict(), path)
    with pytest.raises(ArchitectureError, match="unknown architecture"):
        load_model(path, arch="nonesuch")
    with pytest.raises(ArchitectureError, match="cannot import"):
        load_model(path, arch="no_such_pkg.mod:Net")


def test_arch_from_module_path(tiny, tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(tiny.state_dict(), path)
    model = load_model(path, arch="tests.engine.engine_models:Tiny")
    assert model.runnable and model.layer("fc").kind == "Linear"


def test_torchscript_float(tiny, tmp_path: Path) -> None:
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.trace(tiny, torch.randn(1, 3, 8, 8)), str(path))
    assert sniff(path) == "torchscript"
    model = load_model(path, trust=True)  # TorchScript is code: it loads (and runs) only trusted
    assert model.format == "torchscript" and model.runnable
    torch.testing.assert_close(_values(model, "conv.weight"), tiny.conv.weight.detach())


@pytest.mark.slow
def test_torchscript_int8_from_torch_ao(tmp_path: Path) -> None:
    from torch.ao.quantization import get_default_qconfig_mapping, quantize_fx

    torch.manual_seed(0)
    net = ResNet8().eval()
    x = torch.randn(4, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = quantize_fx.prepare_fx(net, get_default_qconfig_mapping("x86"), (x,))
        prepared(x)
        qnet = quantize_fx.convert_fx(prepared)
        path = tmp_path / "int8.pt"
        torch.jit.save(torch.jit.trace(qnet, x), str(path))
    model = load_model(path)
    w = model.tensor("conv1.weight")
    assert w.dtype == "qint8" and w.quant is not None and w.quant.per_channel
    assert w.quant.axis == 0 and len(w.quant.scale) == 16
    ints = w.load()
    assert ints.dtype == torch.int8 and ints.shape == (16, 3, 3, 3)
    assert model.tensor("fc.weight").quant is not None  # linear packed params are found too


# --- ONNX ------------------------------------------------------------------------------------


def test_onnx_float_tree_and_roles(tiny, tiny_onnx: Path) -> None:
    model = load_model(tiny_onnx)
    assert model.format == "onnx" and model.runnable
    conv = model.layer("/conv/Conv")
    assert conv.kind == "Conv" and set(conv.tensors) == {"weight", "bias"}
    torch.testing.assert_close(conv.tensors["weight"].load(), tiny.conv.weight.detach())
    bn = model.layer("/bn/BatchNormalization")
    assert {"running_mean", "running_var"} <= set(bn.tensors)
    assert model.metadata["inputs"][0]["name"] == "input"


def test_onnx_constant_node_weights(tmp_path: Path) -> None:
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(w, "w")),
            helper.make_node("MatMul", ["x", "w"], ["y"], name="/proj/MatMul"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    path = tmp_path / "const.onnx"
    onnx.save(helper.make_model(graph), str(path))
    model = load_model(path)
    ref = model.layer("/proj/MatMul").tensors["weight"]
    np.testing.assert_array_equal(ref.load().numpy(), w)


def _external_model(tmp_path: Path, location: str) -> Path:
    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    init = numpy_helper.from_array(w, "w")
    init.ClearField("raw_data")
    init.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(w.nbytes))):
        init.external_data.add(key=k, value=v)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [init],
    )
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    path = folder / "ext.onnx"
    onnx.save(helper.make_model(graph), str(path))
    target = (folder / location) if not os.path.isabs(location) else Path(location)
    target.write_bytes(w.tobytes())
    return path


def test_onnx_external_data_is_read_on_demand(tmp_path: Path) -> None:
    path = _external_model(tmp_path, "weights.bin")
    model = load_model(path)
    ref = model.layer("mm").tensors["weight"]
    assert ref.shape == (3, 4)
    np.testing.assert_allclose(ref.load().numpy(), np.linspace(-1, 1, 12).reshape(3, 4), rtol=1e-6)


@pytest.mark.parametrize("location", ["../outside.bin", "ABSOLUTE"])
def test_onnx_external_path_escape_is_refused(tmp_path: Path, location: str) -> None:
    if location == "ABSOLUTE":
        location = str(tmp_path / "abs_outside.bin")
    path = _external_model(tmp_path, location)
    with pytest.raises(UnsafePathError, match="outside the model's folder"):
        load_model(path)


@pytest.mark.slow
def test_onnx_qdq_quantized_weights_carry_quant_info(tiny_onnx: Path, tmp_path: Path) -> None:
    from tests.onnx_quantize_for_tests import quantize_static_onnx

    out = quantize_static_onnx(
        tiny_onnx, tmp_path / "tiny_int8.onnx", shape=(1, 3, 8, 8),
        activation_type="int8", per_channel=True,
    )  # fmt: skip
    model = load_model(out)
    assert model.is_quantized and "qdq" in model.metadata["quant_scheme"]
    conv = next(layer for layer in model.layers.values() if layer.kind == "Conv")
    w = conv.tensors["weight"]
    assert w.dtype == "int8" and w.quant.per_channel and w.quant.axis == 0
    assert model.metadata["activation_quant"]  # activations' scales are known too


# --- safetensors -----------------------------------------------------------------------------


def test_safetensors_file(tiny, tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.state_dict().items()}, str(path))
    model = load_model(path)
    assert model.format == "safetensors"
    torch.testing.assert_close(_values(model, "conv.weight"), tiny.conv.weight.detach())


def _shards(tiny, folder: Path, index: bool) -> Path:
    folder.mkdir()
    sd = {k: v.contiguous() for k, v in tiny.state_dict().items()}
    keys = sorted(sd)
    parts = [keys[: len(keys) // 2], keys[len(keys) // 2 :]]
    weight_map = {}
    for i, part in enumerate(parts, 1):
        name = f"model-{i:05d}-of-00002.safetensors"
        save_file({k: sd[k] for k in part}, str(folder / name))
        weight_map.update({k: name for k in part})
    if index:
        (folder / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {}, "weight_map": weight_map})
        )
    (folder / "config.json").write_text(
        json.dumps({"architectures": ["TinyNet"], "hidden_size": 4})
    )
    return folder


@pytest.mark.parametrize("index", [True, False])
def test_sharded_folder_is_one_model(tiny, tmp_path: Path, index: bool) -> None:
    folder = _shards(tiny, tmp_path / "sharded", index)
    model = load_model(folder)
    assert model.format == "safetensors-sharded"
    assert model.metadata["shards"] == 2 and model.metadata["config"]["architectures"] == [
        "TinyNet"
    ]
    assert {t.name for t in model.tensors()} == set(tiny.state_dict())
    torch.testing.assert_close(_values(model, "fc.bias"), tiny.fc.bias.detach())


def test_index_naming_a_missing_shard_is_a_clear_error(tiny, tmp_path: Path) -> None:
    folder = _shards(tiny, tmp_path / "sharded", True)
    (folder / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ModelFileError, match="model-00002-of-00002.safetensors"):
        load_model(folder)


def test_truncated_safetensors_is_refused(tiny, tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_file({"w": torch.randn(100)}, str(path))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(path)


# --- sniffing, corrupt files, cache ----------------------------------------------------------


@pytest.mark.parametrize(
    "content, error",
    [
        (b"", UnknownFormatError),
        (b"hello, this is not a model at all\n" * 4, UnknownFormatError),
        (b"PK\x03\x04" + b"\x00" * 60, ModelFileError),
        (b"\x08\x07\x12\x04junk" + b"\xff" * 40, ModelFileError),
    ],
    ids=["empty", "text", "broken-zip", "broken-onnx"],
)
def test_bad_files_raise_one_line_errors(tmp_path: Path, content: bytes, error: type) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(error) as exc:
        load_model(path)
    assert "\n" not in str(exc.value) and "model.onnx" in str(exc.value)


def test_truncated_torch_file(tiny, tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(tiny.state_dict(), path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ModelFileError):
        load_model(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no such file"):
        load_model(tmp_path / "nope.pt")


def test_wrong_layer_name_suggests_close_matches(tiny, tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(tiny.state_dict(), path)
    model = load_model(path)
    with pytest.raises(NotFoundError, match="did you mean 'conv'"):
        model.layer("conv1")


def test_cache_returns_same_model_until_file_changes(tiny, tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(tiny.state_dict(), path)
    first = load_model(path)
    assert load_model(path) is first
    time.sleep(0.01)
    torch.save(tiny.state_dict(), path)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    assert load_model(path) is not first


def test_cache_is_bounded(tiny, tmp_path: Path) -> None:
    from layerscope.engine import loaders

    paths = []
    for i in range(loaders.CACHE_SIZE + 2):
        p = tmp_path / f"sd{i}.pt"
        torch.save(tiny.state_dict(), p)
        paths.append(p)
    first = load_model(paths[0])
    for p in paths[1:]:
        load_model(p)
    assert len(loaders._cache) == loaders.CACHE_SIZE
    assert load_model(paths[0]) is not first  # evicted, loaded again


# --- fast metadata path for zip state dicts ---------------------------------------------------


def test_zip_state_dict_opens_from_its_pickle_alone(tiny, tmp_path: Path, monkeypatch) -> None:
    from layerscope.engine.loaders import torch_loader

    path = tmp_path / "sd.pt"
    sd = tiny.state_dict()
    sd["half"] = torch.randn(3, 5).to(torch.bfloat16)
    torch.save(sd, path)
    calls = []
    real = torch_loader._torch_load
    monkeypatch.setattr(
        torch_loader, "_torch_load", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    model = load_model(path)
    assert calls == []  # opening read no tensor: torch.load was not called at all
    ref = model.tensor("half")
    assert (ref.dtype, ref.shape, ref.nbytes) == ("bfloat16", (3, 5), 30)
    torch.testing.assert_close(ref.load(), sd["half"])
    torch.testing.assert_close(model.tensor("conv.weight").load(), tiny.conv.weight.detach())
    assert len(calls) == 1  # one memory-mapped load, shared by every tensor


def test_eager_quantized_state_dict_keeps_linear_weights(tmp_path: Path) -> None:
    from torch.ao import quantization as tq

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
            self.conv = torch.nn.Conv2d(1, 2, 3)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x):
            return self.dequant(self.fc(self.conv(self.quant(x)).flatten(1)))

    torch.manual_seed(0)
    net = Net().eval()
    net.qconfig = tq.get_default_qconfig("x86")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = tq.prepare(net)
        prepared(torch.randn(4, 1, 4, 4))
        qnet = tq.convert(prepared)
    path = tmp_path / "eager_int8.pt"
    torch.save(qnet.state_dict(), path)
    model = load_model(path)
    fc_w = model.tensor("fc.weight")
    assert fc_w.quant is not None and fc_w.shape == (3, 8)
    torch.testing.assert_close(fc_w.load(), qnet.fc.weight().int_repr())
    assert model.tensor("conv.weight").quant is not None


def test_safetensors_layers_come_in_natural_order(tmp_path: Path) -> None:
    path = tmp_path / "deep.safetensors"
    save_file({f"layers.{i}.weight": torch.zeros(2) for i in (10, 2, 1, 33)}, str(path))
    model = load_model(path)
    assert model.layer("layers").children == ["layers.1", "layers.2", "layers.10", "layers.33"]
