"""``layerscope quant-compare``: table, JSON, exclusions, and one-line errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from layerscope.engine.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["quant-compare", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_lists_layers_worst_first_with_summary(models, capsys) -> None:
    code, out, err = _run(capsys, models.float_onnx, models.qdq_channel)
    assert code == 0, err
    for name in ("/conv1/Conv", "/conv2/Conv", "/fc/Gemm"):
        assert name in out
    assert "top-1 agreement" in out and "sorted worst first" in out
    assert "0 of 3 layers below 20 dB" in out


def test_json_is_strict_and_sorted_worst_first(models, capsys) -> None:
    code, out, _ = _run(
        capsys, models.float_onnx, models.qdq_tensor, "--json", "--max-samples", "2"
    )
    assert code == 0
    data = json.loads(out)
    worst = [layer["worst_sqnr_db"] for layer in data["layers"]]
    assert worst == sorted(worst)
    assert data["output"]["samples"] == 2
    assert data["unmatched_float"] == [] and data["unmatched_quant"] == []


def test_suggest_exclude_prints_node_names(models, capsys) -> None:
    code, out, _ = _run(
        capsys, models.pre_onnx, models.qop_uint8, "--threshold", "1000", "--suggest-exclude"
    )
    assert code == 0
    pre_nodes = [n.name for n in onnx.load(str(models.pre_onnx)).graph.node]
    names = out.split()
    assert {"/conv1/Conv", "/conv2/Conv", "/fc/Gemm"} <= set(names) <= set(pre_nodes)
    assert names == sorted(names, key=pre_nodes.index)  # graph order


def test_npy_input_and_state_dict_with_arch(resnet8_files, tmp_path: Path, capsys) -> None:
    state, int8 = resnet8_files.state, resnet8_files.int8
    batch = tmp_path / "batch.npy"
    np.save(batch, np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32))
    code, out, _ = _run(capsys, state, int8, "--arch", "resnet8", "--input", batch, "--json")
    assert code == 0
    data = json.loads(out)
    assert len(data["layers"]) == 10 and data["output"]["samples"] == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{missing}", "{quant}"], "no such file"),
        (["{float}", "{quant}", "--threshold", "nan"], "--threshold must be a finite"),
        (["{float}", "{quant}", "--max-samples", "0"], "--max-samples must be at least 1"),
        (["{float}", "{quant}", "--input", "{missing_npy}"], "neither a source"),
        (["{float}", "{quant}", "--input", "{bad_npy}"], "shape (2, 5)"),
        (["{quant}", "{float}"], "give the float model first"),
        (["{float}", "{other}"], "are they the same network"),
        (["{float}", "{torch_quant}", "--suggest-exclude"], "is torchscript, not ONNX"),
    ],
)
def test_errors_are_one_line_with_status_2(
    models, resnet8_files, tmp_path: Path, capsys, argv: list[str], message: str
) -> None:
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 5), np.float32))
    paths = {
        "missing": tmp_path / "missing.onnx", "float": models.float_onnx,
        "quant": models.qdq_tensor, "missing_npy": tmp_path / "none.npy", "bad_npy": bad,
        "other": resnet8_files.float_onnx, "torch_quant": models.fx_ts,
    }  # fmt: skip
    code, _, err = _run(capsys, *(a.format(**paths) for a in argv))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("layerscope: ")
    assert message in lines[0]
