"""`layerscope demo`: every demo file is written, loads in its own framework, and still classifies.

The build (1 epoch) runs once per module through the real CLI, so the tests check what a user gets.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, numpy_helper

from layerscope.engine.cli import main
from layerscope.engine.datasets import DIGITS_MEAN, DIGITS_STD, digits_images, digits_split
from layerscope.engine.demo import FILES, MANIFEST_NAME, DemoError, build_demo_models
from layerscope.engine.zoo import ResNet8

FLOOR = 0.5  # 1 epoch reaches ~0.95; this only catches a model that stopped working
MAX_QUANT_DROP = 0.05  # int8 variants may lose a little accuracy, not collapse


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("demo") / "models"  # not yet there: the CLI creates it
    stdout, stderr = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(["demo", "--out", str(out), "--epochs", "1", "--seed", "0", "--json"])
    assert rc == 0, stderr.getvalue()
    return {
        "out": out,
        "manifest": json.loads(stdout.getvalue()),
        "stderr": stderr.getvalue(),
        "threads_before": threads,
    }


@pytest.fixture(scope="module")
def test_split() -> tuple[np.ndarray, np.ndarray]:
    """The digits test split, normalised NCHW float32, prepared independently of layerscope.engine.demo."""
    images, labels = digits_images()
    _, test_idx = digits_split(0.2, 0)
    x = images[test_idx].astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    x = (x - np.float32(DIGITS_MEAN[0])) / np.float32(DIGITS_STD[0])
    return np.ascontiguousarray(x, dtype=np.float32), labels[test_idx]


def _acc(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(1) == labels).mean())


def _torch_run(model: Any, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


@pytest.mark.slow
def test_every_file_written_and_listed(demo: dict[str, Any]) -> None:
    out: Path = demo["out"]
    names = [name for name, _, _ in FILES]
    for name in names:
        assert (out / name).is_file() and (out / name).stat().st_size > 10_000, name
    manifest = demo["manifest"]
    assert json.loads((out / MANIFEST_NAME).read_text()) == manifest
    assert [f["file"] for f in manifest["files"]] == names
    for entry in manifest["files"]:
        assert entry["size_bytes"] == (out / entry["file"]).stat().st_size
    # Files get the user's usual permissions (not a temp file's 0600).
    probe = out.parent / "probe"
    probe.write_text("")
    assert {(out / n).stat().st_mode & 0o777 for n in names} == {probe.stat().st_mode & 0o777}
    # Atomic writes leave no temp files behind.
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, MANIFEST_NAME])
    assert manifest["epochs"] == 1 and manifest["train_seconds"] > 0
    assert "trained in" in demo["stderr"]


@pytest.mark.slow
def test_reported_accuracies_are_sane(demo: dict[str, Any]) -> None:
    acc = {f["file"]: f["accuracy"] for f in demo["manifest"]["files"]}
    assert all(a > FLOOR for a in acc.values()), acc
    # The float formats hold the same weights, so they agree exactly.
    floats = {
        acc[n] for n in ("resnet8.pt", "resnet8_state.pt", "resnet8.ckpt", "resnet8.safetensors")
    }
    assert len(floats) == 1
    for name in ("resnet8_int8.onnx", "resnet8_uint8.onnx", "resnet8_int8.pt"):
        assert acc[name] > acc["resnet8.pt"] - MAX_QUANT_DROP, acc


@pytest.mark.slow
def test_torch_files_load_and_agree(demo: dict[str, Any], test_split: tuple) -> None:
    out: Path = demo["out"]
    x, y = test_split
    whole = torch.load(out / "resnet8.pt", weights_only=False)  # our own file: trusted
    assert isinstance(whole, ResNet8)
    ref = _torch_run(whole.eval(), x)
    reported = {f["file"]: f["accuracy"] for f in demo["manifest"]["files"]}
    assert _acc(ref, y) == pytest.approx(reported["resnet8.pt"])

    state = torch.load(out / "resnet8_state.pt", weights_only=True)
    ckpt = torch.load(out / "resnet8.ckpt", weights_only=True)
    assert "pytorch-lightning_version" in ckpt and "optimizer_states" in ckpt
    assert all(k.startswith("model.") for k in ckpt["state_dict"])
    from safetensors.torch import load_file

    states = {
        "state": state,
        "ckpt": {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()},
        "safetensors": load_file(str(out / "resnet8.safetensors")),
    }
    for label, sd in states.items():
        model = ResNet8()
        model.load_state_dict(sd)  # strict: same keys as the architecture
        np.testing.assert_allclose(_torch_run(model.eval(), x), ref, atol=1e-6, err_msg=label)


@pytest.mark.slow
def test_float_onnx_matches_torch_and_keeps_names(demo: dict[str, Any], test_split: tuple) -> None:
    out: Path = demo["out"]
    x, _ = test_split
    proto = onnx.load(str(out / "resnet8.onnx"))
    onnx.checker.check_model(proto)
    whole = torch.load(out / "resnet8.pt", weights_only=False).eval()
    np.testing.assert_allclose(_ort_run(out / "resnet8.onnx", x), _torch_run(whole, x), atol=1e-4)
    # Hierarchical node names and state-dict initializer names, holding the state dict's values.
    nodes = {n.name for n in proto.graph.node}
    assert {"/conv1/Conv", "/layer1/conv1/Conv", "/layer2/shortcut/Conv", "/fc/Gemm"} <= nodes
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    for key, value in whole.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        np.testing.assert_array_equal(inits[key], value.numpy(), err_msg=key)


@pytest.mark.slow
def test_int8_onnx_is_qdq_with_int8_per_channel_weights(
    demo: dict[str, Any], test_split: tuple
) -> None:
    path = demo["out"] / "resnet8_int8.onnx"
    proto = onnx.load(str(path))
    ops = [n.op_type for n in proto.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    assert "QLinearConv" not in ops
    inits = {i.name: i for i in proto.graph.initializer}
    # Weights reach the Convs through DequantizeLinear of int8 initializers with one scale per
    # output channel.
    int8_weights = 0
    for node in proto.graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            q, scale = inits[node.input[0]], inits[node.input[1]]
            if q.data_type == TensorProto.INT8 and len(q.dims) == 4:
                assert numpy_helper.to_array(scale).size == q.dims[0]
                int8_weights += 1
    assert int8_weights == 9  # every conv of ResNet-8
    x, y = test_split
    assert _acc(_ort_run(path, x), y) > FLOOR


@pytest.mark.slow
def test_uint8_onnx_is_qoperator(demo: dict[str, Any], test_split: tuple) -> None:
    path = demo["out"] / "resnet8_uint8.onnx"
    proto = onnx.load(str(path))
    convs = [n for n in proto.graph.node if n.op_type == "QLinearConv"]
    assert len(convs) == 9
    assert not any(n.op_type == "Conv" for n in proto.graph.node)
    inits = {i.name: i for i in proto.graph.initializer}
    for conv in convs:  # QLinearConv inputs: x, x_scale, x_zp, w, w_scale, w_zp, ...
        assert inits[conv.input[3]].data_type == TensorProto.UINT8
        assert inits[conv.input[2]].data_type == TensorProto.UINT8
    x, y = test_split
    assert _acc(_ort_run(path, x), y) > FLOOR


@pytest.mark.slow
def test_torchscript_int8_holds_quantized_weights(demo: dict[str, Any], test_split: tuple) -> None:
    model = torch.jit.load(str(demo["out"] / "resnet8_int8.pt"))
    assert isinstance(model, torch.jit.ScriptModule)
    graph = str(model.inlined_graph)
    assert "quantized::conv2d" in graph and "quantized::linear" in graph
    weight = model.conv1._packed_params.unpack()[0]
    assert weight.is_quantized and weight.dtype == torch.qint8
    x, y = test_split
    assert _acc(_torch_run(model, x), y) > FLOOR


@pytest.mark.slow
def test_build_leaves_torch_global_state_alone(demo: dict[str, Any]) -> None:
    # Lightning's deterministic=True and the build's thread cap are process-wide: both restored.
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == demo["threads_before"]


@pytest.mark.parametrize("epochs", [0, -1])
def test_bad_epochs_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, epochs: int
) -> None:
    assert main(["demo", "--out", str(tmp_path), "--epochs", str(epochs)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("layerscope:") and "epochs" in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_out_is_a_file_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "models"
    target.write_text("not a folder")
    assert main(["demo", "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a folder" in err and "\n" not in err
    with pytest.raises(DemoError, match="not a folder"):
        build_demo_models(target)


def test_failed_build_leaves_no_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / MANIFEST_NAME).write_text("{}")  # from an earlier, complete build

    def broken_training(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("training blew up")

    monkeypatch.setattr("layerscope.engine.demo.train_resnet8", broken_training)
    with pytest.raises(RuntimeError, match="blew up"):
        build_demo_models(tmp_path, epochs=1)
    assert list(tmp_path.iterdir()) == []
