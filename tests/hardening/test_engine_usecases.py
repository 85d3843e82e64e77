"""The engine's use cases, called as scripts call them: one default per fact, the capture session
outside the app, run files and incremental listing, and one tensor-statistics schema."""

from __future__ import annotations

import inspect
import json
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from layerscope.engine.cli import build_parser, main


def test_one_default_for_samples_and_threshold() -> None:
    from layerscope.engine.quant_compare import compare
    from layerscope.engine.quant_compare.result import DEFAULT_THRESHOLD_DB, RANDOM_SAMPLES
    from layerscope.engine.usecases.quant import ComparisonSpec

    args = build_parser().parse_args(["quant-compare", "a.onnx", "b.onnx"])
    assert args.threshold == DEFAULT_THRESHOLD_DB == ComparisonSpec(Path(), Path()).threshold_db
    # compare() with no inputs draws as many random samples as the CLI and the app do.
    assert inspect.signature(compare).parameters["num_inputs"].default == RANDOM_SAMPLES


def _tiny_model(tmp_path: Path):  # noqa: ANN202
    from layerscope.engine.loaders.torch_loader import model_from_module

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    return model_from_module(tmp_path / "tiny.pt", "torch-module", net.eval(), "cpu")


def test_capture_session_answers_exactly_without_the_app(tmp_path: Path) -> None:
    from layerscope.engine.capture import capture
    from layerscope.engine.stats import count_in_range
    from layerscope.engine.usecases.activations import ActivationAnswer, CaptureSession

    model = _tiny_model(tmp_path)
    session = CaptureSession.run(
        model, "random:3x8x8", seed=3, bins=50, device="cpu", progress=None,
        cancel=threading.Event(),
    )  # fmt: skip
    act = session.for_layer("1")[0]  # the ReLU's output
    assert session.cached("1", act.name, 7, None, None) is None  # another bin count: a re-run
    answer = session.fetch("1", act.name, 7, 0.0, 0.5, threading.Event())
    assert isinstance(answer, ActivationAnswer) and len(answer.stats.counts) == 7
    values = capture(model, session.batch, mode="tensors", keep=[act.name]).activations
    assert answer.in_range == count_in_range(values[act.name].values, 0.0, 0.5)
    assert session.cached("1", act.name, 7, 0.0, 0.5) == answer  # now cached


def _run_dir(root: Path, name: str, status: str = "finished") -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.yaml").write_text("name: x\n")
    events = [{"event": "started", "time": 1.0, "max_epochs": 2}]
    events.append({"event": status})
    (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return d


def test_run_files_and_incremental_listing(tmp_path: Path) -> None:
    from layerscope.engine.usecases.runs import RunLister, run_files

    done = _run_dir(tmp_path, "20260101-000000-a")
    (done / "best-epoch001.ckpt").write_bytes(b"")
    (done / "model.onnx").write_bytes(b"")
    (done / "epoch_001").mkdir()
    (done / "epoch_001" / "confusion_matrix.png").write_bytes(b"")
    files = run_files(done)
    assert files.checkpoint == done / "best-epoch001.ckpt" and files.model_onnx is not None
    assert files.confusion_matrix is not None and files.curves == [] and not files.all_curves
    (done / "last.ckpt").write_bytes(b"")
    assert run_files(done).checkpoint == done / "last.ckpt"  # last.ckpt first

    lister = RunLister(tmp_path)
    (first,) = lister.list()
    assert first.status == "finished"
    assert lister.list()[0] is first  # unchanged and not running: not read again
    _run_dir(tmp_path, "20260101-000100-b", status="failed")
    assert [r.status for r in lister.list()] == ["finished", "failed"]


def test_runs_json_rows_carry_their_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    d = _run_dir(tmp_path, "20260101-000000-a")
    (d / "last.ckpt").write_bytes(b"")
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["files"]["checkpoint"] == str(d / "last.ckpt")


def test_inspect_json_is_the_export_document(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from safetensors.torch import save_file

    from layerscope.engine.inspect import tensor_stats
    from layerscope.engine.loaders import load_model
    from layerscope.engine.usecases.tensor_json import tensor_document

    path = tmp_path / "tiny.safetensors"
    save_file({"fc.weight": torch.arange(12, dtype=torch.float32).reshape(4, 3)}, str(path))
    assert main(["inspect", str(path), "--layer", "fc", "--bins", "6", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    model = load_model(path)
    ref = model.tensor("fc", "weight")
    exported = tensor_document(model, ref, tensor_stats(ref, 6), view="float", bins=6)
    assert printed == json.loads(json.dumps(exported, default=str))
    assert printed["tensor"]["stats"]["counts"] == [2, 2, 2, 2, 2, 2]
