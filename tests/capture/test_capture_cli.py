"""`layerscope capture` and `layerscope diff`: reports written, tables printed, errors in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from layerscope.engine.cli import main
from layerscope.engine.zoo import SmallCNN


@pytest.fixture
def state_dict(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "small.pt"
    torch.save(SmallCNN().state_dict(), path)
    return path


def test_capture_writes_a_report_and_diff_reads_it(
    state_dict: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    out = tmp_path / "reports"
    args = [str(state_dict), "--arch", "smallcnn", "--input", "digits:0-3", "--out", str(out)]
    assert main(["capture", *args]) == 0
    table = capsys.readouterr().out
    assert "features.0" in table and "input: digits[0-3] (4 images)" in table
    assert (
        main(["capture", *args, "--input", "random", "--output-json-name", "rand.json", "--json"])
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["report_path"] == str(out / "rand.json")
    assert printed["tensors"]["classifier"]["shape"] == [1, 10]
    assert (
        main(["diff", str(out / "activation_report.json"), str(out / "rand.json"), "--json"]) == 0
    )
    d = json.loads(capsys.readouterr().out)
    assert d["matched"] == len(printed["tensors"]) and d["only_in_a"] == []
    assert main(["diff", str(out / "activation_report.json"), str(out / "rand.json")]) == 0
    assert "tensors matched" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--input", "digits:99999"], "digits index 99999 is out of range"),
        (
            ["--input", "cifar10:0", "--data-dir", "/nonexistent/cifar"],
            "CIFAR-10 python folder not found",
        ),
        (["--input", "random", "--batch-size", "0"], "--batch-size must be at least 1"),
        (
            ["--input", "random", "--output-json-name", "../x.json"],
            "must be a file name, not a path",
        ),
        (["--input", "random:5x32x32"], "forward pass failed on an input of shape (1, 5, 32, 32)"),
        pytest.param(
            ["--input", "random", "--device", "cuda"],
            "torch sees no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),  # fmt: skip
    ],
)
def test_capture_errors_exit_2_with_one_line(
    state_dict: Path, tmp_path: Path, capsys, extra: list[str], message: str
) -> None:
    assert (
        main(["capture", str(state_dict), "--arch", "smallcnn", "--out", str(tmp_path), *extra])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("layerscope: ") and message in err


def test_capture_of_missing_model_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["capture", str(tmp_path / "nope.pt"), "--input", "random"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_diff_of_a_file_that_is_not_a_report_exits_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["diff", str(bad), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a layerscope activation report" in err


def test_capture_of_onnx_and_torchscript_files(
    convnet, convnet_onnx: Path, tmp_path: Path, capsys
) -> None:
    assert (
        main(["capture", str(convnet_onnx), "--input", "random", "--out", str(tmp_path), "--json"])
        == 0
    )
    rep = json.loads(capsys.readouterr().out)
    assert rep["model"]["format"] == "onnx" and rep["input"]["shape"] == [1, 3, 8, 8]
    assert {t["kind"] for t in rep["tensors"].values()} >= {"Conv", "Relu", "Gemm"}
    scripted = tmp_path / "convnet.ts"
    torch.jit.save(torch.jit.script(convnet), str(scripted))
    args = ["capture", str(scripted), "--input", "random:3x8x8", "--out", str(tmp_path), "--json",
            "--trust"]  # fmt: skip
    assert main(args) == 0
    rep = json.loads(capsys.readouterr().out)
    assert (
        list(rep["tensors"]) == ["(output)"]
        and "forward hooks cannot fire" in rep["not_available"][0]
    )
