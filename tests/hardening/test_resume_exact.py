"""A stopped or killed run resumes exactly where its checkpoint was; a config that cannot train is
refused at launch with the key named.

Tiny runs: SmallCNN on 192 digits, batch 32 (6 steps an epoch), 2 epochs, one thread.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch

from layerscope.engine.errors import ConfigError
from layerscope.engine.training.build import build_run
from layerscope.engine.training.callbacks import GracefulStopCallback
from layerscope.engine.training.config import RunConfig, from_dict
from layerscope.engine.training.events import EventWriter, format_event, read_events
from layerscope.engine.training.paths import LAST_CKPT, STOP_FILE

STEPS_PER_EPOCH = 6


@pytest.fixture(autouse=True)
def _one_thread():  # noqa: ANN202 - two cores shared by everyone
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(**sections: dict[str, Any]) -> RunConfig:
    data: dict[str, Any] = {
        "name": "exact",
        "model": {"arch": "smallcnn"},
        "data": {"kind": "digits", "batch_size": 32, "max_samples": 192},
        "optimizer": {"name": "adam", "lr": 0.01},
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "devices": 1, "limit_val_batches": 2},
        "logging": {"progress_every": 1, "grad_norm_every": 0, "artifacts": False},
        "export": {"onnx": False},
    }
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    return from_dict(data)


class _AtStep(pl.Callback):
    """Calls ``action`` once, after the optimizer step that makes ``global_step == step``."""

    def __init__(self, step: int, action) -> None:  # noqa: ANN001
        self.step, self.action, self.done = step, action, False

    def on_train_batch_end(self, trainer, *_: Any) -> None:  # noqa: ANN001
        if trainer.global_step == self.step and not self.done:
            self.done = True
            self.action()


class _Killed(Exception):
    """Stands in for kill -9: the process ends mid-epoch, nothing more is written."""


def _fit(run_dir: Path, cfg: RunConfig, *, resume: bool = False, at: int | None = None,
         kill: bool = False) -> pl.Trainer:  # fmt: skip
    """One session of the run, as layerscope.engine.training.process runs it (same callbacks, same order)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    stopper = GracefulStopCallback(
        run_dir / STOP_FILE, run_dir / LAST_CKPT, check_every=1, handle_sigterm=False
    )
    pl.seed_everything(0, verbose=False)
    parts = build_run(cfg, run_dir, writer=EventWriter(run_dir), stopper=stopper)
    callbacks = list(parts.callbacks)
    if at is not None:

        def act() -> None:
            if kill:
                raise _Killed
            stopper.request()

        callbacks.insert(0, _AtStep(at, act))
    trainer = pl.Trainer(**parts.trainer_kwargs, callbacks=callbacks)
    ckpt = run_dir / LAST_CKPT if resume else None
    if kill:
        with pytest.raises(_Killed):
            trainer.fit(parts.module, datamodule=parts.datamodule, ckpt_path=ckpt)
    else:
        trainer.fit(parts.module, datamodule=parts.datamodule, ckpt_path=ckpt)
    return trainer


def _names(key: str) -> str:
    """A message that starts with the dotted key."""
    return "^" + re.escape(key) + r"\b"


def _history(run_dir: Path) -> list[dict[str, Any]]:
    return json.loads((run_dir / "history.json").read_text())


def _since_last(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    starts = [i for i, e in enumerate(events) if e["event"] == kind]
    return events[starts[-1] :]


def test_a_mid_epoch_stop_resumes_at_the_next_batch(tmp_path: Path) -> None:
    run_dir, cfg = tmp_path / "run", _config()
    trainer = _fit(run_dir, cfg, at=3)  # half way through epoch 0
    assert trainer.global_step == 3
    events = read_events(run_dir)
    stopped = events[-1]
    assert stopped["event"] == "stopped"
    assert (stopped["epoch"], stopped["step"], stopped["epochs_done"]) == (0, 3, 0)
    assert "run stopped at epoch 1 step 3" in format_event(stopped)  # people count from 1
    # The cut-short epoch is not reported as done, nor recorded in the history.
    assert [e for e in events if e["event"] == "epoch"] == []
    assert not (run_dir / "history.json").exists() or _history(run_dir) == []
    assert torch.load(run_dir / LAST_CKPT, weights_only=False)["global_step"] == 3

    trainer = _fit(run_dir, cfg, resume=True)
    assert trainer.global_step == 2 * STEPS_PER_EPOCH  # not 9: the rest of epoch 0 is trained
    after = _since_last(read_events(run_dir), "resumed")
    assert (after[0]["epoch"], after[0]["step"]) == (0, 3)
    assert [(e["epoch"], e["step"]) for e in after if e["event"] == "epoch"] == [
        (0, STEPS_PER_EPOCH),
        (1, 2 * STEPS_PER_EPOCH),
    ]
    assert after[-1]["event"] == "finished" and after[-1]["epochs_done"] == 2
    assert [h["epoch"] for h in _history(run_dir)] == [0, 1]
    # The checkpoints keep their names (no last-v1.ckpt beside a stale last.ckpt).
    assert not [p.name for p in run_dir.glob("*-v1.ckpt")]


def test_a_stop_at_the_end_of_an_epoch_counts_that_epoch(tmp_path: Path) -> None:
    run_dir, cfg = tmp_path / "run", _config()
    _fit(run_dir, cfg, at=STEPS_PER_EPOCH)  # the last batch of epoch 0
    stopped = read_events(run_dir)[-1]
    assert stopped["event"] == "stopped" and stopped["epochs_done"] == 1
    assert [h["epoch"] for h in _history(run_dir)] == [0]
    trainer = _fit(run_dir, cfg, resume=True)
    assert trainer.global_step == 2 * STEPS_PER_EPOCH
    assert [h["epoch"] for h in _history(run_dir)] == [0, 1]


def test_resume_after_a_kill_keeps_the_finished_epochs(tmp_path: Path) -> None:
    run_dir, cfg = tmp_path / "run", _config()
    _fit(run_dir, cfg, at=STEPS_PER_EPOCH + 2, kill=True)  # killed in epoch 1
    before = _history(run_dir)
    assert [h["epoch"] for h in before] == [0] and "val_acc" in before[0]

    trainer = _fit(run_dir, cfg, resume=True)
    assert trainer.global_step == 2 * STEPS_PER_EPOCH
    history = _history(run_dir)
    assert [h["epoch"] for h in history] == [0, 1]
    assert history[0] == before[0]  # epoch 0's metrics survive the resume
    after = _since_last(read_events(run_dir), "resumed")
    epochs = [e for e in after if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1]  # no empty epoch event for epoch 0
    assert all(e["metrics"] for e in epochs)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["best"] is not None


# -- configs that cannot train are refused at launch, naming the key ---------------------------
@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("optimizer", {"lr": math.inf}, "optimizer.lr"),
        ("optimizer", {"lr": math.nan}, "optimizer.lr"),
        ("optimizer", {"lr": "nan"}, "optimizer.lr"),
        ("optimizer", {"lr": 1e3}, "optimizer.lr"),
        ("optimizer", {"lr": 0.0}, "optimizer.lr"),
        ("optimizer", {"lr": -0.1}, "optimizer.lr"),
        ("optimizer", {"weight_decay": -1e-4}, "optimizer.weight_decay"),
        ("optimizer", {"weight_decay": math.nan}, "optimizer.weight_decay"),
        ("optimizer", {"momentum": -0.5}, "optimizer.momentum"),
        ("optimizer", {"betas": [1.0, 0.999]}, "optimizer.betas"),
        ("optimizer", {"betas": [0.9, -0.1]}, "optimizer.betas"),
        ("optimizer", {"betas": [0.9, math.nan]}, "optimizer.betas"),
        ("data", {"max_samples": -5}, "data.max_samples"),
        ("trainer", {"gradient_clip_val": -1.0}, "trainer.gradient_clip_val"),
        ("scheduler", {"warmup_epochs": -1.0}, "scheduler.warmup_epochs"),
        ("trainer", {"precision": "17-mixed"}, "trainer.precision"),
    ],
)
def test_values_that_cannot_train_are_refused(
    section: str, values: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError, match=_names(key)):
        _config(**{section: values})


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("data", {"kind": "folder", "path": "{tmp}/no-such-folder"}, "data.path"),
        ("data", {"kind": "cifar10", "path": "{tmp}/no-such-folder"}, "data.path"),
        ("model", {"arch": "no_such_module_xyz:Net"}, "model.arch"),
        ("model", {"arch": "not-a-zoo-net"}, "model.arch"),
    ],
)
def test_a_run_that_cannot_start_is_refused_at_launch(
    tmp_path: Path, section: str, values: dict[str, Any], key: str
) -> None:
    from layerscope.engine.training.runs import launch_run

    values = {k: v.replace("{tmp}", str(tmp_path)) for k, v in values.items()}
    cfg = _config(**{section: values})  # loads: the data or code may appear before launch
    runs = tmp_path / "runs"
    with pytest.raises(ConfigError, match=_names(key)):
        launch_run(cfg, runs)
    assert not runs.exists() or not any(runs.iterdir())  # no run folder, no process


def test_good_values_still_load() -> None:
    cfg = _config(
        optimizer={"lr": 0.1, "weight_decay": 0.0, "momentum": 0.0, "betas": [0.0, 0.99]},
        trainer={"precision": "bf16-mixed", "gradient_clip_val": 0.0},
        scheduler={"warmup_epochs": 0.0},
    )
    assert cfg.optimizer.lr == 0.1 and cfg.trainer.precision == "bf16-mixed"
