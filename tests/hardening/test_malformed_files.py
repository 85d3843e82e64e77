"""Malformed safetensors, ONNX and JSON files: one line on stderr, exit 2, never a traceback.

Each case is a file that passed layerscope's own early checks but broke a library underneath it
(safetensors' ``safe_open``, ``onnx.numpy_helper``, torch reshapes, ``json`` recursion).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerscope.engine.cli import main
from layerscope.engine.loaders import clear_cache

# ---------------------------------------------------------------------------------------------
# helpers


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    clear_cache()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(capsys: pytest.CaptureFixture[str], argv: list[str], *words: str) -> str:
    """``argv`` exits 2 with exactly one ``layerscope: ...`` line on stderr; returns that line."""
    code, _, err = run_cli(capsys, argv)
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("layerscope: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def write_safetensors(
    path: Path, header: Any, data: bytes, raw_header: bytes | None = None
) -> Path:
    blob = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


def _st(info: dict[str, Any], data: bytes = b"\0" * 16) -> tuple[dict[str, Any], bytes]:
    return {"a.weight": info}, data


# Each case: header entry for tensor "w" (valid: F32 [2, 2] at 0..16 of a 16-byte data section).
SAFETENSORS_CASES: dict[str, tuple[Any, bytes]] = {
    "negative_shape": _st({"dtype": "F32", "shape": [-2, -2], "data_offsets": [0, 16]}),
    "float_shape": _st({"dtype": "F32", "shape": [2.0, 2.0], "data_offsets": [0, 16]}),
    "string_shape": _st({"dtype": "F32", "shape": ["2", "2"], "data_offsets": [0, 16]}),
    "unknown_dtype": _st({"dtype": "F31", "shape": [2, 2], "data_offsets": [0, 16]}),
    "int_dtype_field": _st({"dtype": 7, "shape": [2, 2], "data_offsets": [0, 16]}),
    "reversed_offsets": _st({"dtype": "F32", "shape": [2, 2], "data_offsets": [16, 0]}),
    "shape_size_mismatch": _st({"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 16]}),
    "not_covered": _st({"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, b"\0" * 24),
    "overlapping": (
        {
            "a.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
            "a.bias": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
        },
        b"\0" * 16,
    ),
    "shape_not_list": _st({"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}),
    "entry_not_dict": ({"a.weight": [1, 2, 3]}, b"\0" * 16),
    "header_not_dict": ([1, 2, 3], b"\0" * 16),
}


def _nan_shape(tmp_path: Path) -> Path:
    raw = b'{"a.weight": {"dtype": "F32", "shape": [NaN, 2], "data_offsets": [0, 16]}}'
    return write_safetensors(tmp_path / "nan_shape.safetensors", None, b"\0" * 16, raw)


# ---------------------------------------------------------------------------------------------
# 1. safetensors headers that safe_open would reject


@pytest.mark.parametrize("case", sorted(SAFETENSORS_CASES))
def test_safetensors_bad_header_is_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header, data = SAFETENSORS_CASES[case]
    f = write_safetensors(tmp_path / f"{case}.safetensors", header, data)
    assert_refused(capsys, ["inspect", str(f)], str(f))
    assert_refused(capsys, ["inspect", str(f), "--layer", "a"], str(f))
    assert_refused(capsys, ["inspect", str(f), "--summary"], str(f))


def test_safetensors_nan_shape_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _nan_shape(tmp_path)
    assert_refused(capsys, ["inspect", str(f)])
    assert_refused(capsys, ["inspect", str(f), "--layer", "a"])
    assert_refused(capsys, ["inspect", str(f), "--summary"])


def test_safetensors_error_from_safe_open_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever safe_open still rejects (a check we do not repeat) becomes a ModelFileError."""
    import safetensors

    f = write_safetensors(
        tmp_path / "ok.safetensors",
        {"a.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}},
        np.arange(4, dtype=np.float32).tobytes(),
    )

    class Broken:
        def __init__(self, *a: Any, **k: Any) -> None:
            raise safetensors.SafetensorError("Error while deserializing header: InvalidOffset")

    monkeypatch.setattr(safetensors, "safe_open", Broken)
    assert_refused(capsys, ["inspect", str(f), "--layer", "a"], "InvalidOffset")


def test_safetensors_valid_file_still_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = np.arange(4, dtype=np.float32).tobytes() + np.ones(2, np.float16).tobytes()
    f = write_safetensors(
        tmp_path / "ok.safetensors",
        {
            "__metadata__": {"format": "pt"},
            "a.weight": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
            "a.bias": {"dtype": "F16", "shape": [2], "data_offsets": [16, 20]},
            "e": {"dtype": "F32", "shape": [0], "data_offsets": [20, 20]},
        },
        data,
    )
    code, out, err = run_cli(capsys, ["inspect", str(f), "--layer", "a", "--json"])
    assert code == 0, err
    assert json.loads(out)["tensor"]["stats"]["max"] == 3.0


def test_safetensors_huge_header_length_refused_without_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An 8-byte length claiming 10 GB (in a file that big, sparse) is refused by the cap."""
    f = tmp_path / "huge.safetensors"
    with f.open("wb") as fh:
        fh.write(struct.pack("<Q", 10 * 1024**3) + b'{"w": ')
        fh.truncate(10 * 1024**3 + 64)  # sparse: no disk used
    line = assert_refused(capsys, ["inspect", str(f)], str(f))
    assert "header" in line and "100 MB" in line, line


# ---------------------------------------------------------------------------------------------
# 3. deeply nested JSON

DEEP = "[" * 200_000 + "]" * 200_000


def test_deep_json_safetensors_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = ('{"w": ' + DEEP + "}").encode()
    f = write_safetensors(tmp_path / "deep.safetensors", None, b"", raw)
    assert_refused(capsys, ["inspect", str(f)], "nested")


def _sharded(folder: Path) -> Path:
    folder.mkdir()
    write_safetensors(
        folder / "model-00001-of-00001.safetensors",
        {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
        np.ones(2, np.float32).tobytes(),
    )
    return folder


def test_deep_json_sharded_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _sharded(tmp_path / "shards")
    (folder / "model.safetensors.index.json").write_text('{"weight_map": ' + DEEP + "}")
    assert_refused(capsys, ["inspect", str(folder)], "nested")


def test_deep_json_config_next_to_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """config.json only adds facts: a broken one is left out, the model still opens."""
    folder = _sharded(tmp_path / "shards")
    (folder / "config.json").write_text('{"model_type": ' + DEEP + "}")
    code, out, err = run_cli(capsys, ["inspect", str(folder), "--json"])
    assert code == 0, err
    assert "config" not in json.loads(out)["model"]["metadata"]


def test_deep_json_report_given_to_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rep = tmp_path / "deep_report.json"
    rep.write_text('{"schema": ' + DEEP + "}")
    assert_refused(capsys, ["diff", str(rep), str(rep)], str(rep), "nested")


def test_oversized_report_given_to_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import layerscope.engine.report

    monkeypatch.setattr(layerscope.engine.report, "MAX_REPORT_BYTES", 1000)
    rep = tmp_path / "big_report.json"
    rep.write_text(json.dumps({"schema": "x" * 2000}))
    assert_refused(capsys, ["diff", str(rep), str(rep)], str(rep), "1000")


def test_load_json_helper(tmp_path: Path) -> None:
    from layerscope.engine.errors import InputError, ModelFileError
    from layerscope.engine.io import load_json

    assert load_json(b'{"a": [1, 2]}', "test data", max_bytes=100) == {"a": [1, 2]}
    f = tmp_path / "x.json"
    f.write_text('{"a": 1}')
    assert load_json(f, "x", max_bytes=100) == {"a": 1}
    with pytest.raises(ModelFileError, match="nested"):
        load_json(DEEP.encode(), "deep data", max_bytes=10**7)
    with pytest.raises(InputError, match="not JSON"):
        load_json(f.read_bytes()[:-1], "half data", max_bytes=100, error=InputError)
    with pytest.raises(ModelFileError, match="larger than"):
        load_json(f, "x", max_bytes=3)
    with pytest.raises(ModelFileError, match="UTF-8"):
        load_json(b'"\xff\xfe"', "bytes", max_bytes=100)


# ---------------------------------------------------------------------------------------------
# 2. ONNX: initializers, quantization parameters, external data


def _onnx_model(
    initializers: list[Any],
    nodes: list[Any],
    out: str = "Y",
    opset: int = 21,
) -> Any:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
        initializer=initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def _save(model: Any, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())  # no checker: these files are broken on purpose
    return path


def _raw(name: str, dtype: int, dims: list[int], raw: bytes) -> Any:
    from onnx import TensorProto

    t = TensorProto(name=name, data_type=dtype, dims=dims)  # unchecked: may not match ``raw``
    t.raw_data = raw
    return t


def _matmul_with(w: Any) -> Any:
    from onnx import helper

    return _onnx_model([w], [helper.make_node("MatMul", ["X", w.name], ["Y"], name="mm")])


def _dq_matmul(wq: Any, scale: Any, zp: Any | None, axis: int = 1, opset: int = 21) -> Any:
    from onnx import helper

    inputs = ["Wq", "s"] + (["zp"] if zp is not None else [])
    inits = [wq, scale] + ([zp] if zp is not None else [])
    return _onnx_model(
        inits,
        [
            helper.make_node("DequantizeLinear", inputs, ["W"], name="dq", axis=axis),
            helper.make_node("MatMul", ["X", "W"], ["Y"], name="mm"),
        ],
        opset=opset,
    )


def _float_scale(values: list[float]) -> Any:
    from onnx import TensorProto, helper

    return helper.make_tensor("s", TensorProto.FLOAT, [len(values)] if len(values) > 1 else [],
                              values)  # fmt: skip


def _int8(name: str, dims: list[int]) -> Any:
    from onnx import TensorProto

    n = int(np.prod(dims)) if dims else 1
    return _raw(name, TensorProto.INT8, dims, np.arange(n, dtype=np.int8).tobytes())


def _case_dims_mismatch(d: Path) -> Path:
    from onnx import TensorProto

    w = _raw("W", TensorProto.FLOAT, [4, 4], np.ones(3, np.float32).tobytes())
    return _save(_matmul_with(w), d / "dims_mismatch.onnx")


def _case_dq_one_input(d: Path) -> Path:
    from onnx import helper

    m = _onnx_model(
        [_int8("Wq", [4, 4])],
        [
            helper.make_node("DequantizeLinear", ["Wq"], ["W"], name="dq"),
            helper.make_node("MatMul", ["X", "W"], ["Y"], name="mm"),
        ],
    )
    return _save(m, d / "dq_one_input.onnx")


def _case_scale_len_mismatch(d: Path) -> Path:
    m = _dq_matmul(_int8("Wq", [4, 4]), _float_scale([0.1, 0.2, 0.3]), None, axis=1)
    return _save(m, d / "scale_len_mismatch.onnx")


def _case_zp_len_mismatch(d: Path) -> Path:
    m = _dq_matmul(_int8("Wq", [4, 4]), _float_scale([0.1] * 4), _int8("zp", [3]), axis=1)
    return _save(m, d / "zp_len_mismatch.onnx")


def _case_string_scale(d: Path) -> Path:
    from onnx import TensorProto, helper

    s = helper.make_tensor("s", TensorProto.STRING, [], [b"abc"])
    return _save(_dq_matmul(_int8("Wq", [4, 4]), s, None), d / "string_scale.onnx")


def _external(d: Path, name: str, data: bytes, offset: int, length: int | None) -> Path:
    from onnx import TensorProto

    (d / f"{name}.bin").write_bytes(data)
    w = _raw("W", TensorProto.FLOAT, [4, 4], b"")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", f"{name}.bin"), ("offset", str(offset)), ("length", str(length))):
        if v != "None":
            e = w.external_data.add()
            e.key, e.value = k, v
    return _save(_matmul_with(w), d / f"{name}.onnx")


def _case_negative_offset(d: Path) -> Path:
    return _external(d, "negative_offset", np.ones(16, np.float32).tobytes(), -8, 64)


def _case_short_external(d: Path) -> Path:
    return _external(d, "short_external", np.ones(8, np.float32).tobytes(), 0, 64)


def _case_short_external_no_length(d: Path) -> Path:
    return _external(d, "short_external_no_length", np.ones(8, np.float32).tobytes(), 0, None)


def _case_length_mismatch(d: Path) -> Path:
    # length covers 8 floats but dims say 16: the file is long enough, the tensor is not
    return _external(d, "length_mismatch", np.ones(16, np.float32).tobytes(), 0, 32)


ONNX_REFUSED = {
    "dims_mismatch": (_case_dims_mismatch, "W"),
    "scale_len_mismatch": (_case_scale_len_mismatch, "scale"),
    "zp_len_mismatch": (_case_zp_len_mismatch, "zero point"),
    "string_scale": (_case_string_scale, "scale"),
    "negative_offset": (_case_negative_offset, "offset"),
    "short_external": (_case_short_external, "truncated"),
    "short_external_no_length": (_case_short_external_no_length, "W"),
    "length_mismatch": (_case_length_mismatch, "W"),
}


@pytest.mark.parametrize("case", sorted(ONNX_REFUSED))
def test_onnx_malformed_is_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build, word = ONNX_REFUSED[case]
    f = build(tmp_path)
    assert_refused(capsys, ["inspect", str(f)], word)
    assert_refused(capsys, ["inspect", str(f), "--layer", "mm"], word)
    assert_refused(capsys, ["inspect", str(f), "--summary"])
    out = tmp_path / "out"
    assert_refused(capsys, ["capture", str(f), "--input", "random", "--out", str(out)])


def test_onnx_dq_with_one_input_shows_the_weight(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DequantizeLinear without its scale: the integer weight is shown as stored, not guessed."""
    f = _case_dq_one_input(tmp_path)
    code, out, err = run_cli(capsys, ["inspect", str(f), "--layer", "mm", "--json"])
    assert code == 0, err
    t = json.loads(out)["tensor"]
    assert (t["name"], t["dtype"], t["quant"]) == ("Wq", "int8", None)
    out_dir = tmp_path / "out"
    assert_refused(capsys, ["capture", str(f), "--input", "random", "--out", str(out_dir)])


def _int4_model(d: Path, signed: bool) -> Path:
    from onnx import TensorProto, helper

    dt = TensorProto.INT4 if signed else TensorProto.UINT4
    vals = list(range(-8, 8)) if signed else list(range(16))
    wq = helper.make_tensor("Wq", dt, [4, 4], vals)
    zp = helper.make_tensor("zp", dt, [], [0])
    m = _dq_matmul(wq, _float_scale([0.5]), zp)
    return _save(m, d / f"{'int4' if signed else 'uint4'}.onnx")


@pytest.mark.parametrize("signed", [True, False], ids=["int4", "uint4"])
def test_onnx_int4_weights_are_unpacked(
    signed: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = _int4_model(tmp_path, signed)
    lo, hi = (-8, 7) if signed else (0, 15)
    code, out, err = run_cli(
        capsys, ["inspect", str(f), "--layer", "mm", "--view", "int", "--json"]
    )
    assert code == 0, err
    t = json.loads(out)["tensor"]
    assert t["dtype"] == ("int4" if signed else "uint4")
    assert t["shape"] == [4, 4]
    assert (t["stats"]["min"], t["stats"]["max"], t["stats"]["numel"]) == (lo, hi, 16)
    code, out, err = run_cli(capsys, ["inspect", str(f), "--layer", "mm", "--json"])
    assert code == 0, err
    assert json.loads(out)["tensor"]["stats"]["max"] == hi * 0.5
    code, _, err = run_cli(capsys, ["inspect", str(f), "--summary"])
    assert code == 0, err


def _odd_model(d: Path, name: str, dtype: int, vals: Any) -> Path:
    """Y = X @ W + B where B has an unusual element type."""
    from onnx import TensorProto, helper

    w = _raw("W", TensorProto.FLOAT, [4, 4], np.ones(16, np.float32).tobytes())
    b = helper.make_tensor("B", dtype, [4], vals)
    m = _onnx_model(
        [w, b],
        [
            helper.make_node("MatMul", ["X", "W"], ["M"], name="mm"),
            helper.make_node("Add", ["M", "B"], ["Y"], name="add"),
        ],
    )
    return _save(m, d / f"{name}.onnx")


def _odd_cases() -> dict[str, tuple[int, Any, str | None]]:
    from onnx import TensorProto as T

    return {  # name → (element type, values, None if statistics work else the refusal's words)
        "uint64": (T.UINT64, [0, 1, 2, 2**63], None),
        "fp4": (T.FLOAT4E2M1, [0.5, 1.0, -2.0, 6.0], None),
        "complex64": (T.COMPLEX64, [1 + 2j] * 4, None),  # statistics of |z|, with a note
        "string": (T.STRING, [b"a", b"b", b"c", b"d"], "string statistics not supported"),
    }


@pytest.mark.parametrize("case", ["uint64", "fp4", "complex64", "string"])
def test_onnx_unusual_initializer_dtypes(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dtype, vals, refusal = _odd_cases()[case]
    f = _odd_model(tmp_path, case, dtype, vals)
    # The tree always shows the tensor with its shape and dtype.
    code, out, err = run_cli(capsys, ["inspect", str(f), "--no-stats", "--json"])
    assert code == 0, err
    tensors = {t["name"]: t for la in json.loads(out)["layers"] for t in la["tensors"]}
    assert tensors["B"]["shape"] == [4]
    assert tensors["B"]["dtype"] != "?"
    argv = ["inspect", str(f), "--layer", "add", "--json"]
    if refusal is None:
        code, out, err = run_cli(capsys, argv)
        assert code == 0, err
        stats = json.loads(out)["tensor"]["stats"]
        assert stats["numel"] == 4
        if case == "complex64":  # |1+2j| = sqrt(5), said in the note
            assert "magnitude" in stats["note"] and stats["max"] == pytest.approx(5**0.5)
        code, _, err = run_cli(capsys, ["inspect", str(f)])
        assert code == 0, err
    else:
        assert_refused(capsys, argv, refusal)
        assert_refused(capsys, ["inspect", str(f)], refusal)
    code, _, err = run_cli(capsys, ["inspect", str(f), "--summary"])
    assert code == 0, err
    out_dir = tmp_path / "out"
    assert_refused(capsys, ["capture", str(f), "--input", "random", "--out", str(out_dir)])


def test_onnx_uint64_values_are_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from onnx import TensorProto as T

    f = _odd_model(tmp_path, "u64", T.UINT64, [0, 1, 2, 2**40])
    code, out, err = run_cli(capsys, ["inspect", str(f), "--layer", "add", "--json"])
    assert code == 0, err
    st = json.loads(out)["tensor"]["stats"]
    assert (st["min"], st["max"]) == (0, 2**40)


# ---------------------------------------------------------------------------------------------
# 4. bounded ONNX capture


def _chain(d: Path, n: int) -> Path:
    from onnx import helper

    nodes = [
        helper.make_node("Relu" if i % 2 else "Identity", [f"v{i}" if i else "X"],
                         [f"v{i + 1}" if i < n - 1 else "Y"], name=f"n{i}")
        for i in range(n)
    ]  # fmt: skip
    return _save(_onnx_model([], nodes, opset=17), d / f"chain{n}.onnx")


def test_onnx_capture_refuses_above_the_value_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import layerscope.engine.capture.onnx_capture as oc

    f = _chain(tmp_path, 3000)
    monkeypatch.setattr(oc, "MAX_CAPTURE_VALUES", 1000)
    out = tmp_path / "out"
    line = assert_refused(
        capsys, ["capture", str(f), "--input", "random", "--out", str(out)], "3000", "1000"
    )
    assert "extract" in line
    assert not out.exists() or not any(out.iterdir())


def test_onnx_capture_below_the_value_limit_captures_every_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import layerscope.engine.capture.onnx_capture as oc

    f = _chain(tmp_path, 300)
    monkeypatch.setattr(oc, "MAX_CAPTURE_VALUES", 300)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, ["capture", str(f), "--input", "random", "--out", str(out)])
    assert code == 0, err
    report = json.loads((out / "activation_report.json").read_text())
    assert len(report["tensors"]) == 300


def test_onnx_external_data_without_length_reads_what_dims_need(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No length: the tensor takes the bytes its dims need, even when the data file goes on."""
    data = np.arange(16, dtype=np.float32).tobytes() + b"\0" * 32  # e.g. a shared data file
    f = _external(tmp_path, "no_length_longer_file", data, 0, None)
    code, out, err = run_cli(capsys, ["inspect", str(f), "--layer", "mm", "--json"])
    assert code == 0, err
    st = json.loads(out)["tensor"]["stats"]
    assert (st["min"], st["max"], st["numel"]) == (0, 15, 16)
