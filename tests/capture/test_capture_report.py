"""Activation reports: round trip, atomic writes, clear errors for files that are not reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from capture_models import ConvNet

from layerscope.engine import report
from layerscope.engine.capture import capture
from layerscope.engine.errors import InputError
from layerscope.engine.inputs import load_input


@pytest.fixture
def saved(convnet: ConvNet, convnet_onnx: Path, tmp_path: Path) -> tuple[report.Report, Path]:
    batch = load_input("random:3x8x8", max_samples=2)
    rep = report.from_capture(capture(convnet_onnx, batch))
    return rep, report.save(rep, tmp_path / "out" / "activation_report.json")


def test_round_trip_keeps_every_tensor(saved, convnet_onnx: Path) -> None:
    rep, path = saved
    back = report.load(path)
    assert list(back.tensors) == list(rep.tensors)
    for name, t in rep.tensors.items():
        b = back.tensors[name]
        assert (b.layer, b.kind, b.stats) == (t.layer, t.kind, t.stats)
    import hashlib

    assert back.model["sha256"] == hashlib.sha256(convnet_onnx.read_bytes()).hexdigest()
    assert back.input["description"].startswith("random normal N(0, 1), seed 0, shape 2×3×8×8")
    assert back.versions == rep.versions and back.versions["torch"]
    raw = json.loads(path.read_text())
    assert raw["schema"] == report.SCHEMA and raw["schema_version"] == report.SCHEMA_VERSION


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
def test_quantized_tensors_round_trip_with_both_views(tmp_path: Path) -> None:
    net = torch.ao.nn.quantized.Quantize(0.1, 3, torch.quint8)
    rep = report.from_capture(capture(net, torch.randn(2, 6)))
    back = report.load(report.save(rep, tmp_path / "q.json"))
    t = back.tensors["(output)"]
    assert t.int_stats.dtype == "uint8" and len(t.int_stats.counts) == 256
    assert t.stats.dtype == "uint8→float32"
    assert t.quant == {
        "scale": [pytest.approx(0.1)],
        "zero_point": [3],
        "axis": None,
        "qdtype": "uint8",
        "scheme": "torch",
    }


def test_write_is_atomic(saved, monkeypatch: pytest.MonkeyPatch) -> None:
    rep, path = saved
    before = path.read_bytes()

    def fail(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        report.save(rep, path)
    assert path.read_bytes() == before  # the old report is intact
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"hello": 1}', "is not a layerscope activation report"),
        (
            '{"schema": "layerscope.activation-report", "schema_version": 99}',
            "schema v99, newer than this layerscope reads",
        ),
        (
            '{"schema": "layerscope.activation-report", "schema_version": 1, "tensors": {}}',
            "damaged activation report",
        ),
    ],
)
def test_bad_files_get_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        report.load(path)


def test_missing_report(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="report not found"):
        report.load(tmp_path / "none.json")
