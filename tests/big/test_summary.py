"""``inspect --summary``: per-dtype totals, largest tensors and the NaN/Inf scan, as text and JSON."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from layerscope.engine.cli import main
from layerscope.engine.loaders import load_model
from layerscope.engine.summary import scan, summarize


def test_summary_json_has_totals_largest_config_and_nonfinite(
    sharded: Path, weights: dict[str, torch.Tensor], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(sharded), "--summary", "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)  # stdout is pure JSON: the progress bar went to stderr
    assert "{" not in err
    assert data["format"] == "safetensors-sharded" and data["shards"] == 3
    assert data["params"] == sum(t.numel() for t in weights.values())
    assert data["tensors"] == len(weights)
    assert data["config"]["architectures"] == ["LlamaForCausalLM"]
    assert data["config"]["hidden_size"] == 16
    by_dtype = {d["dtype"]: d for d in data["dtypes"]}
    assert set(by_dtype) == {"bfloat16", "float16"}
    bf16 = [t for t in weights.values() if t.dtype == torch.bfloat16]
    assert by_dtype["bfloat16"] == {
        "dtype": "bfloat16",
        "tensors": len(bf16),
        "elements": sum(t.numel() for t in bf16),
        "bytes": 2 * sum(t.numel() for t in bf16),
    }
    assert by_dtype["float16"]["tensors"] == 1 and by_dtype["float16"]["elements"] == 800
    largest = [t["name"] for t in data["largest"]]
    assert largest[:2] == ["lm_head.weight", "model.embed_tokens.weight"]  # 800 each, by name
    assert data["largest"][0]["shape"] == [50, 16]
    scan_result = data["nonfinite"]
    assert scan_result["complete"] and scan_result["tensors_scanned"] == len(weights)
    found = {t["name"]: (t["nan"], t["posinf"], t["neginf"]) for t in scan_result["tensors"]}
    assert found == {
        "model.layers.1.mlp.up_proj.weight": (1, 0, 0),
        "model.layers.2.self_attn.q_proj.weight": (0, 0, 1),
    }


def test_summary_text_lists_dtypes_and_the_tensors_with_nan(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(sharded), "--summary"]) == 0
    out = capsys.readouterr().out
    assert "3 shards" in out and "LlamaForCausalLM" in out
    assert "bfloat16" in out and "float16" in out
    assert "tensors with NaN/Inf (2 of 11)" in out
    assert "model.layers.1.mlp.up_proj.weight" in out


def test_no_stats_summary_reads_no_tensor(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(sharded), "--summary", "--no-stats", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["nonfinite"] is None and data["params"] > 0


def test_clean_model_says_none_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "clean.safetensors"
    save_file({"fc.weight": torch.ones(4, 4), "fc.bias": torch.zeros(4)}, str(path))
    assert main(["inspect", str(path), "--summary"]) == 0
    assert "NaN/Inf: none in 2 floating-point tensors" in capsys.readouterr().out


def test_scan_yields_progress_and_stops_when_cancelled(sharded: Path) -> None:
    model = load_model(sharded)
    summary = summarize(model)
    cancel = threading.Event()
    seen = []
    for p in scan(model, summary, cancel=cancel):
        seen.append(p)
        if p.done == 2:
            cancel.set()
    assert [p.done for p in seen] == [0, 1, 2]
    assert seen[0].bytes_total == summary.size_bytes
    assert summary.scanned == 2 and not summary.scan_complete
    assert summary.to_dict()["nonfinite"]["complete"] is False


def test_scan_runs_to_completion_and_reports_bytes(sharded: Path) -> None:
    model = load_model(sharded)
    summary = summarize(model, top=3)
    last = list(scan(model, summary))[-1]
    assert (last.done, last.total) == (summary.to_scan, summary.to_scan)
    assert last.bytes_done == last.bytes_total == summary.size_bytes
    assert len(summary.largest) == 3 and summary.scan_complete
    assert len(summary.nonfinite) == 2


def test_integer_tensors_are_not_scanned(tmp_path: Path) -> None:
    path = tmp_path / "mixed.safetensors"
    save_file({"q.weight": torch.zeros(8, dtype=torch.int8), "f.weight": torch.ones(8)}, str(path))
    model = load_model(path)
    summary = summarize(model)
    list(scan(model, summary))
    assert summary.to_scan == summary.scanned == 1
    assert {d.dtype for d in summary.dtypes} == {"int8", "float32"}


def test_every_stored_dtype_is_listed_scanned_and_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nan = float("nan")
    tensors = {
        "f32.weight": torch.tensor([1.0, nan, 2.0]),
        "f16.weight": torch.tensor([1.0, float("inf")]).half(),
        "bf16.weight": torch.tensor([1.0, -2.0]).bfloat16(),
        "e4m3.weight": torch.tensor([1.0, nan, 0.5]).to(torch.float8_e4m3fn),
        "e5m2.weight": torch.tensor([1.0, float("-inf")]).to(torch.float8_e5m2),
        "i8.weight": torch.tensor([-1, 2], dtype=torch.int8),
        "u8.weight": torch.tensor([1, 2], dtype=torch.uint8),
        "i32.weight": torch.tensor([1, 2], dtype=torch.int32),
        "i64.weight": torch.tensor([2**60, 2], dtype=torch.int64),
        "mask.weight": torch.tensor([True, False]),
    }
    path = tmp_path / "all.safetensors"
    save_file(tensors, str(path))
    assert main(["inspect", str(path), "--summary", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    expected = {str(t.dtype).removeprefix("torch.") for t in tensors.values()}
    assert {d["dtype"] for d in data["dtypes"]} == expected
    found = {t["name"]: (t["nan"], t["posinf"], t["neginf"]) for t in data["nonfinite"]["tensors"]}
    assert found == {
        "f32.weight": (1, 0, 0),
        "f16.weight": (0, 1, 0),
        "e4m3.weight": (1, 0, 0),
        "e5m2.weight": (0, 0, 1),
    }
    assert data["nonfinite"]["tensors_scanned"] == 5  # the five float tensors
    # and each tensor's statistics, with its dtype, through the ordinary inspect path
    assert main(["inspect", str(path), "--json"]) == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    by_name = {t["name"]: t for layer in layers for t in layer["tensors"]}
    assert by_name["e4m3.weight"]["dtype"] == "float8_e4m3fn"
    assert by_name["e4m3.weight"]["stats"]["nan"] == 1
    assert by_name["e4m3.weight"]["stats"]["max"] == 1.0
    assert by_name["i64.weight"]["stats"]["max"] == 2**60
    assert by_name["mask.weight"]["stats"]["zeros"] == 1
