"""ONNX with external data: weights are mapped from their file when read, never at open, and a
data location that leaves the model's folder is refused before anything is read."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from layerscope.engine.cli import main
from layerscope.engine.errors import ModelFileError, UnsafePathError
from layerscope.engine.loaders import load_model

W = np.arange(12, dtype=np.float32).reshape(4, 3) / 4 - 1


def _graph_model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="fc/MatMul")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(W, "W")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _save_external(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ext.onnx"
    onnx.save_model(_graph_model(), str(path), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.bin", size_threshold=0)  # fmt: skip
    assert (folder / "ext.bin").stat().st_size == W.nbytes
    return path


def _save_pointing_at(folder: Path, location: str) -> Path:
    """A model whose weight claims to live at ``location`` (crafted, as an attacker would)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = _graph_model()
    t = model.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(W.nbytes))):
        t.external_data.add(key=key, value=value)
    path = folder / "evil.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_external_weights_load_with_their_values(tmp_path: Path) -> None:
    model = load_model(_save_external(tmp_path / "m"))
    ref = model.tensor("W")
    assert ref.shape == (4, 3) and ref.dtype == "float32" and ref.nbytes == W.nbytes
    np.testing.assert_array_equal(ref.load().numpy(), W)


def test_external_data_is_read_on_load_not_at_open(tmp_path: Path) -> None:
    path = _save_external(tmp_path / "m")
    model = load_model(path)
    # Rewrite the data file after opening: a loader that had read it at open would not notice.
    (path.parent / "ext.bin").write_bytes((W * 0 + 7).tobytes())
    values = model.tensor("W").load()
    assert float(values.min()) == float(values.max()) == 7.0


def _mapped_file(address: int) -> str | None:
    """The file the kernel maps at ``address`` in this process (None: anonymous memory)."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, *rest = line.split()
        lo, hi = (int(v, 16) for v in span.split("-"))
        if lo <= address < hi:
            return rest[4] if len(rest) > 4 else None
    return None


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_loaded_external_tensor_is_memory_mapped_not_copied(tmp_path: Path) -> None:
    path = _save_external(tmp_path / "m")
    values = load_model(path).tensor("W").load()
    assert _mapped_file(values.data_ptr()) == str((path.parent / "ext.bin").resolve())


@pytest.mark.parametrize("where", ["parent", "absolute", "symlink"])
def test_external_paths_leaving_the_folder_are_refused(tmp_path: Path, where: str) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(W.tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    if where == "parent":
        location = "../outside.bin"
    elif where == "absolute":
        location = str(outside)
    else:
        os.symlink(outside, folder / "inside.bin")  # looks local, resolves outside
        location = "inside.bin"
    path = _save_pointing_at(folder, location)
    with pytest.raises(UnsafePathError, match="outside the model's folder"):
        load_model(path)


def test_cli_refuses_an_escaping_path_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "outside.bin").write_bytes(W.tobytes())
    path = _save_pointing_at(tmp_path / "model", "../outside.bin")
    assert main(["inspect", str(path), "--summary"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'../outside.bin'" in err


def test_missing_external_file_is_named_at_open(tmp_path: Path) -> None:
    path = _save_external(tmp_path / "m")
    (path.parent / "ext.bin").unlink()
    with pytest.raises(ModelFileError, match=r"external data file 'ext\.bin', which is missing"):
        load_model(path)


def test_short_external_file_is_named_at_open(tmp_path: Path) -> None:
    path = _save_external(tmp_path / "m")
    (path.parent / "ext.bin").write_bytes(W.tobytes()[:20])
    with pytest.raises(ModelFileError, match=r"ext\.bin: truncated external data"):
        load_model(path)
