"""Named reproductions of what the long fuzz run (tests/bench/fuzz_files.py) found."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerscope.engine.cli import main
from layerscope.engine.loaders import clear_cache


def _onnx_with_damaged_name(path: Path) -> Path:
    """A valid ONNX file whose node name bytes are not UTF-8 (a flipped byte in a name)."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["X"], ["Y"], name="AAAAreluAAAA")
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
        initializer=[helper.make_tensor("W", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])],
    )  # fmt: skip
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    assert data.count(b"AAAAreluAAAA") == 1
    path.write_bytes(data.replace(b"AAAAreluAAAA", b"AAAA\xdf\xffluAAAA"))
    onnx.load(str(path))  # still parses: the damage is only in the text
    return path


@pytest.mark.parametrize("verb", ["inspect", "summary", "layer", "capture"])
def test_onnx_names_that_are_not_utf8_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    clear_cache()
    f = _onnx_with_damaged_name(tmp_path / "m.onnx")
    argv = {
        "inspect": ["inspect", str(f)],
        "summary": ["inspect", str(f), "--summary"],
        "layer": ["inspect", str(f), "--layer", "W"],
        "capture": ["capture", str(f), "--input", "random", "--out", str(tmp_path / "r.json")],
    }[verb]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not UTF-8 text" in err, err
