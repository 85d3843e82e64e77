"""Helpers shared by the callbacks (private)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch


def scalar_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The trainer's current scalar metrics as plain floats."""
    out: dict[str, float] = {}
    for key, value in trainer.callback_metrics.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                continue
            value = value.item()
        if isinstance(value, int | float):
            out[key] = float(value)
    return out


def class_names_of(
    trainer: pl.Trainer, given: list[str] | None, num_classes: int | None
) -> list[str]:
    """Class names from the argument, else the datamodule, else ``0..N-1``."""
    if given:
        return list(given)
    names = getattr(getattr(trainer, "datamodule", None), "class_names", None)
    if names:
        return list(names)
    return [str(i) for i in range(num_classes or 0)]


def epoch_dir(out_dir: Path, epoch: int) -> Path:
    """Per-epoch artifact folder, ``epoch_003``."""
    return out_dir / f"epoch_{epoch:03d}"


def preds_and_target(
    pl_module: pl.LightningModule, outputs: Any, batch: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions from ``validation_step``'s outputs, or one extra forward pass if it returned none."""
    if isinstance(outputs, dict) and "preds" in outputs and "target" in outputs:
        return outputs["preds"], outputs["target"]
    x, y = batch[0], batch[1]
    with torch.no_grad():
        return pl_module(x).argmax(1), y


def epoch_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The scalar metrics that belong to the epoch now ending.

    Lightning keeps a step-only value (a grad norm logged every N steps) in ``callback_metrics``
    after its epoch; a metric the training loop did not update in this epoch is left out, so no
    stale value is carried into the next epoch's record.
    """
    metrics = scalar_metrics(trainer)
    results = getattr(trainer.fit_loop, "_results", None)
    stale: set[str] = set()
    for item in (results or {}).values():
        name = getattr(getattr(item, "meta", None), "name", None)
        if name and not getattr(item, "update_called", True):
            stale |= {name, f"{name}_step", f"{name}_epoch"}
    return {k: v for k, v in metrics.items() if k not in stale}


def task_of(pl_module: pl.LightningModule) -> str:
    """The module's task: ``classification`` when it has ``num_classes`` (or says so)."""
    task = getattr(pl_module, "task", None)
    if isinstance(task, str):
        return task
    return "classification" if getattr(pl_module, "num_classes", None) else "unknown"


def classification_only(callback: Any, pl_module: pl.LightningModule, what: str) -> bool:
    """True (and logs the reason once) when ``what`` cannot apply to this module's task."""
    task = task_of(pl_module)
    if task == "classification":
        return False
    if not getattr(callback, "_off_noted", False):
        from loguru import logger

        logger.info("{} off: the task is {}, not classification", what, task)
        callback._off_noted = True
    return True
