"""Feedback on long work (progress on stderr, Ctrl-C) and tables that never break a number when
piped (issue 13)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from layerscope.engine.cli import main


class LongNames(nn.Module):
    """Deep dotted names: the 80-column table folded them and the numbers beside them."""

    def __init__(self) -> None:
        super().__init__()
        inner = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 1))
        self.encoder_backbone_stage_with_a_long_name = nn.Sequential(inner)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier_head_projection = nn.Linear(4, 10)

    input_shape = (3, 8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder_backbone_stage_with_a_long_name(x) * 1234.5678
        return self.classifier_head_projection(self.flatten(self.pool(h)))


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "long.pt"
    torch.save(LongNames().eval(), path)
    return path


def test_piped_table_never_breaks_a_number(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["capture", str(model_file), "--trust", "--input", "random", "--max-samples", "3",
                 "--out", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads((tmp_path / "activation_report.json").read_text())
    numbers = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?")
    for name, entry in report["tensors"].items():
        for key in ("mean", "std", "min", "max"):
            text = f"{entry['stats'][key]:.3g}"
            assert numbers.fullmatch(text)
            assert re.search(rf"(?<![\d.e+-]){re.escape(text)}(?![\d.e])", out), (name, key, text)


def test_capture_progress_lines_on_a_non_terminal_stderr(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("LAYERSCOPE_PROGRESS_EVERY", "0")  # a line per update, not per few seconds
    code = main(["capture", str(model_file), "--trust", "--input", "digits:0-39",
                 "--batch-size", "10", "--out", str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if ln.startswith("capture:")]
    assert lines, err
    assert any("batch 4/4" in ln for ln in lines)
    assert any("40 samples" in ln for ln in lines)
    assert all("ETA" in ln or "done" in ln for ln in lines)


def test_ctrl_c_during_capture_exits_130_and_writes_nothing(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    from layerscope.engine.capture import sink

    calls = {"n": 0}
    real_add = sink.Sink.add

    def add(self, *args, **kwargs):  # the user presses Ctrl-C during the third layer
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(sink.Sink, "add", add)
    model = torch.load(model_file, weights_only=False)
    code = main(["capture", str(model_file), "--trust", "--input", "random",
                 "--out", str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 130
    assert "interrupted" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert model is not None


def test_quant_compare_progress_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("LAYERSCOPE_PROGRESS_EVERY", "0")
    torch.manual_seed(0)
    path = tmp_path / "long.onnx"
    torch.onnx.export(LongNames().eval(), torch.randn(1, 3, 8, 8), str(path), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})  # fmt: skip
    code = main(["quant-compare", str(path), str(path), "--input", "random:3x8x8"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    lines = [ln for ln in captured.err.splitlines() if ln.startswith("quant-compare:")]
    assert any("activations" in ln for ln in lines), captured.err
    assert "quant-compare:" not in captured.out
