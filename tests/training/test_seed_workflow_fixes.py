"""What the seed workflows hit: a failed ONNX export, best's direction, grad norms, the
warmup-cosine schedule, a corrupt image, the preprocessing record, runs compare JSON and
repeated run names."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from training_helpers import read_json, tiny_config

from layerscope.engine.cli import main
from layerscope.engine.errors import InputError
from layerscope.engine.training.build import build_run
from layerscope.engine.training.config import RunConfig, save_config


def fit(cfg: RunConfig, run_dir: Path) -> None:
    pl.seed_everything(0, verbose=False)
    parts = build_run(cfg, run_dir)
    save_config(cfg, run_dir / "config.yaml")  # a run folder, as launch_run leaves it
    trainer = pl.Trainer(**parts.trainer_kwargs, callbacks=parts.callbacks)
    trainer.fit(parts.module, datamodule=parts.datamodule)


# --- a failed ONNX export ---------------------------------------------------------------------


def test_failed_onnx_export_leaves_a_finished_run_with_one_plain_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from layerscope.engine.training.callbacks import onnx_export

    def exporter_fails(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            "\x1b[31mExporting the operator 'aten::fft_rfft2' is not supported\x1b[0m\n"
            "Torch IR graph at exception: graph(%0 : Float(...))"
        )

    monkeypatch.setattr(onnx_export, "export_onnx", exporter_fails)
    runs = tmp_path / "runs"
    run = runs / "20260101-000000-tiny"
    fit(tiny_config(), run)
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    final = events[-1]
    assert final["event"] == "finished"
    (warning,) = final["warnings"]
    assert warning == (
        "ONNX export failed (RuntimeError: Exporting the operator 'aten::fft_rfft2' is not "
        "supported); the checkpoint is the artefact"
    )
    assert not (run / "model.onnx").exists() and (run / "last.ckpt").is_file()
    assert read_json(run / "onnx_export.json")["error"].startswith("RuntimeError: Exporting")

    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "finished"
    assert main(["runs", "--runs-dir", str(runs), "tail", "tiny", "--no-follow"]) == 0
    out = capsys.readouterr().out
    assert out.count("ONNX export failed") == 1 and "\x1b" not in out
    (line,) = [ln for ln in out.splitlines() if "run finished" in ln]
    assert "warning: ONNX export failed (RuntimeError: Exporting" in line


# --- best follows the metric's direction --------------------------------------------------------


def test_best_val_loss_is_the_minimum_in_metrics_json() -> None:
    from layerscope.engine.training.callbacks import TrainingHistoryCallback

    cb = TrainingHistoryCallback("/nonexistent", monitor="val_loss", plots=False)
    assert cb.mode == "min"
    cb.history = [
        {"epoch": 0, "val_loss": 0.9},
        {"epoch": 1, "val_loss": 0.2},
        {"epoch": 2, "val_loss": 0.5},
    ]
    written: dict[str, Any] = {}
    import layerscope.engine.training.callbacks.training_history as th

    trainer = SimpleNamespace(is_global_zero=True, global_step=9, callback_metrics={})
    orig = th.atomic_write_json
    th.atomic_write_json = lambda path, data: written.update(data)
    try:
        cb.on_fit_end(trainer, None)  # type: ignore[arg-type]
    finally:
        th.atomic_write_json = orig
    assert written["best"] == {"metric": "val_loss", "mode": "min", "value": 0.2, "epoch": 1}


def test_runs_listing_ranks_by_the_runs_monitor_and_mode(tmp_path: Path) -> None:
    from layerscope.engine.training.runs import run_info

    run = tmp_path / "20260101-000000-fno"
    run.mkdir()
    (run / "config.yaml").write_text("name: fno\n")
    events = [
        {"event": "started", "time": 1.0, "monitor": "val_loss", "mode": "min"},
        {"event": "epoch", "epoch": 0, "metrics": {"val_loss": 0.5, "val_acc": 0.1}},
        {"event": "epoch", "epoch": 1, "metrics": {"val_loss": 0.2, "val_acc": 0.05}},
        {"event": "epoch", "epoch": 2, "metrics": {"val_loss": 0.3, "val_acc": 0.2}},
        {"event": "finished", "time": 2.0},
    ]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    info = run_info(run)
    assert (info.best_metric, info.best_value) == ("val_loss", 0.2)


# --- gradient norms -------------------------------------------------------------------------


def test_grad_norms_per_layer_before_and_after_clipping_and_never_stale(tmp_path: Path) -> None:
    # 96 samples / 32 = 3 steps an epoch; a norm every 100 steps is measured at step 0 only.
    cfg = tiny_config(
        data={"max_samples": 96},
        trainer={"max_epochs": 2, "gradient_clip_val": 0.01},
        logging={"grad_norm_every": 100},
        export={"onnx": False},
    )
    run = tmp_path / "run"
    fit(cfg, run)
    history = read_json(run / "history.json")
    assert "grad_norm" in history[0] and "grad_norm_clipped" in history[0]
    assert "grad_norm" not in history[1] and "grad_norm_clipped" not in history[1]
    epochs = [
        json.loads(line)
        for line in (run / "events.jsonl").read_text().splitlines()
        if '"epoch"' in line and json.loads(line)["event"] == "epoch"
    ]
    assert "grad_norm" not in epochs[1]["metrics"]
    (record,) = [json.loads(line) for line in (run / "grad_norms.jsonl").read_text().splitlines()]
    assert record["step"] == 0 and record["epoch"] == 0
    assert record["total_before"] > 0.01 >= record["total_after"] - 1e-6
    assert "model.classifier.weight" in record["before"]
    assert record["before"].keys() == record["after"].keys()
    # the totals are Lightning's: the L2 norm of the per-layer norms
    layers = torch.tensor(list(record["before"].values()))
    assert float(layers.norm(2)) == pytest.approx(record["total_before"], rel=1e-3)


# --- the warmup-cosine schedule --------------------------------------------------------------


def test_warmup_cosine_is_pytorchs_sequential_lr_with_the_same_values() -> None:
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    from layerscope.engine.training.config import SchedulerConfig
    from layerscope.engine.training.optim import build_scheduler, warmup_cosine

    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.5)
    cfg = SchedulerConfig(name="warmup_cosine", warmup_epochs=1, min_lr_ratio=0.1)
    sched = build_scheduler(opt, cfg, steps_per_epoch=5, max_epochs=4)
    assert isinstance(sched, SequentialLR)
    assert [type(s) for s in sched._schedulers] == [LinearLR, CosineAnnealingLR]
    got = []
    for _ in range(21):
        got.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    want = [0.5 * warmup_cosine(k, 5, 20, 0.1) for k in range(21)]
    assert got == pytest.approx(want, abs=1e-9)


# --- a corrupt image ------------------------------------------------------------------------


def _image_folder(root: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    return root


def test_a_corrupt_image_is_skipped_counted_and_recorded(tmp_path: Path) -> None:
    from loguru import logger

    from layerscope.engine.training.data import ImageDataModule

    root = _image_folder(tmp_path / "imgs")
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING")
    try:
        cfg = tiny_config(
            data={"kind": "folder", "path": str(root), "image_size": 8, "val_split": 0.34},
            trainer={"max_epochs": 1},
            export={"onnx": False},
        )
        dm = ImageDataModule(cfg.data)
        dm.setup()
    finally:
        logger.remove(sink)
    assert [p.name for p in dm.skipped_images] == ["broken.png"]
    assert len(dm.train_set) + len(dm.val_set) == 6
    assert dm.preprocessing()["skipped_images"] == 1
    assert any("broken.png" in line for line in lines)
    assert any("1 image(s) under" in line and "skipped" in line for line in lines)


# --- the preprocessing record -----------------------------------------------------------------


def test_preprocessing_goes_to_model_info_and_onnx_metadata(tmp_path: Path) -> None:
    import onnx

    from layerscope.engine import datasets

    run = tmp_path / "run"
    fit(tiny_config(), run)
    pre = read_json(run / "model_info.json")["preprocessing"]
    assert pre["mean"] == pytest.approx(list(datasets.DIGITS_MEAN))
    assert pre["std"] == pytest.approx(list(datasets.DIGITS_STD))
    assert pre["channel_order"] == "RGB" and pre["layout"] == "NCHW"
    assert pre["image_size"] == [32, 32]
    assert pre["class_names"] == list(datasets.DIGITS_CLASSES)
    props = {p.key: p.value for p in onnx.load(str(run / "model.onnx")).metadata_props}
    assert json.loads(props["layerscope.preprocessing"]) == pre
    assert read_json(run / "onnx_export.json")["verified"] is True


# --- runs compare JSON and repeated names ----------------------------------------------------


def _fake_run(runs: Path, folder: str, optimizer: str) -> Path:
    run = runs / folder
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"name: sweep\noptimizer:\n  name: {optimizer}\n  lr: 0.001\n")
    (run / "events.jsonl").write_text(
        json.dumps({"event": "started", "time": 1.0}) + "\n"
        + json.dumps({"event": "finished", "time": 2.0}) + "\n"
    )  # fmt: skip
    return run


@pytest.mark.parametrize(
    "argv",
    [["--json", "compare", "a", "b"], ["compare", "a", "b", "--json"]],
    ids=["runs --json compare", "runs compare --json"],
)
def test_runs_compare_json_either_way(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    runs = tmp_path / "runs"
    _fake_run(runs, "20260101-000000-a", "sgd")
    _fake_run(runs, "20260101-000001-b", "adam")
    assert main(["runs", "--runs-dir", str(runs), *argv]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["runs"] == ["20260101-000000-a", "20260101-000001-b"]
    assert ["optimizer.name", "sgd", "adam"] in table["rows"]


def test_a_repeated_run_name_is_the_newest_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    _fake_run(runs, "20260101-000000-sweep", "sgd")
    _fake_run(runs, "20260102-000000-sweep", "adam")
    _fake_run(runs, "20260103-000000-sweeper", "adamw")
    assert main(["runs", "--runs-dir", str(runs), "compare", "sweep", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["runs"] == ["20260102-000000-sweep"]
    assert (
        "note: 2 runs are named 'sweep'; using the newest, 20260102-000000-sweep "
        "(others: 20260101-000000-sweep)" in captured.err
    )
    # a part of different names still lists the candidates
    from layerscope.engine.training.runs import resolve_run

    with pytest.raises(InputError, match="ambiguous .*20260101-000000-sweep, .*sweeper"):
        resolve_run("swe", runs)


def test_compare_api_for_the_app_overlays_curves_and_flags_differences(tmp_path: Path) -> None:
    from layerscope.engine.usecases.run_compare import compare_run_dirs

    runs = tmp_path / "runs"
    dirs = []
    for i, opt in enumerate(("sgd", "adam", "adamw")):
        run = _fake_run(runs, f"2026010{i + 1}-000000-{opt}", opt)
        history = [
            {"epoch": e, "step": 3 * e, "lr": 0.1, "train_loss_epoch": 1.0 / (e + 1 + i),
             "val_loss": 1.2 / (e + 1 + i), "val_acc": 0.5 + 0.1 * e, "grad_norm": 3.0}
            for e in range(2)
        ]  # fmt: skip
        (run / "history.json").write_text(json.dumps(history))
        dirs.append(run)
    comparison = compare_run_dirs(dirs)
    assert [r.name for r in comparison.runs] == [d.name for d in dirs]
    assert comparison.metrics == ["train_loss_epoch", "val_loss", "val_acc"]
    assert comparison.runs[1].series["val_loss"] == [(0, 1.2 / 2), (1, 1.2 / 3)]
    rows = {p.key: p for p in comparison.params}
    assert (
        rows["optimizer.name"].values == ["sgd", "adam", "adamw"] and rows["optimizer.name"].differs
    )
    assert rows["optimizer.lr"].values == [0.001] * 3 and not rows["optimizer.lr"].differs
    assert [p.key for p in comparison.differing] == ["optimizer.name"]
    assert json.loads(json.dumps(comparison.to_dict()))["runs"][0]["series"]["val_acc"][1] == [
        1,
        0.6,
    ]


# --- figures off the training loop -----------------------------------------------------------


def test_figures_are_drawn_by_a_worker_process_off_the_training_loop(tmp_path: Path) -> None:
    import functools

    from layerscope.engine.training.callbacks._render import Renderer
    from layerscope.engine.training.figures import _curves

    history = [{"epoch": 0, "val_loss": 0.5}, {"epoch": 1, "val_loss": 0.25}]
    r = Renderer()
    try:
        r.submit(
            tmp_path / "loss.png",
            functools.partial(_curves, history, (("val_loss", "val"),), "loss"),
        )
        # drawn as it comes (no gate); flush would draw it itself if no worker were running yet
        deadline = time.monotonic() + 60
        while r.offloaded == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert r.flush(timeout=60)
        assert (
            r.offloaded == 1
            and r._worker is not None
            and r._worker.pid != __import__("os").getpid()
        )
        assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        if r._worker is not None:
            r._worker.stdin.close()
            r._worker.wait(30)
