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
