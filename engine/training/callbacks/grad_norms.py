"""``GradNormCallback``: gradient norms per layer and in total, before and after clipping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import grad_norm
from typing_extensions import override

GRAD_NORMS_FILE = "grad_norms.jsonl"
TOTAL = "grad_2.0_norm_total"  # the key Lightning's grad_norm gives the total


class GradNormCallback(Callback):
    """Every ``every_n_steps`` optimizer steps: Lightning's ``grad_norm`` (L2) before clipping
    (``on_before_optimizer_step``) and after it (``on_train_batch_end``: the step's gradients,
    clipped, are still there). Logs the totals as ``grad_norm`` and ``grad_norm_clipped`` (step
    metrics: they reach the user's loggers too) and appends one line per measured step to
    ``grad_norms.jsonl`` with every layer's norm.

    A norm belongs to the epoch it was measured in: the history and the events leave out a
    step-only metric the epoch did not log (no stale value when N exceeds an epoch's steps).
    """

    def __init__(self, out_dir: str | Path | None, every_n_steps: int = 50) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be at least 1, got {every_n_steps}")
        self.path = Path(out_dir) / GRAD_NORMS_FILE if out_dir is not None else None
        self.every = every_n_steps
        self._before: dict[str, float] | None = None
        self._step = -1

    @override
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        step = trainer.global_step
        if step % self.every != 0:
            return
        norms = grad_norm(pl_module, norm_type=2)
        if not norms:
            return
        self._before = {k: float(v) for k, v in norms.items()}
        self._step = step
        pl_module.log("grad_norm", norms[TOTAL], on_step=True, on_epoch=False)

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self._before is None:
            return
        before, self._before = self._before, None
        after = {k: float(v) for k, v in grad_norm(pl_module, norm_type=2).items()}
        if TOTAL in after:
            pl_module.log("grad_norm_clipped", after[TOTAL], on_step=True, on_epoch=False)
        if self.path is None or not trainer.is_global_zero:
            return
        record = {
            "step": self._step,
            "epoch": trainer.current_epoch,
            "total_before": before.get(TOTAL),
            "total_after": after.get(TOTAL),
            "clip_val": trainer.gradient_clip_val,
            "before": {_layer(k): v for k, v in before.items() if k != TOTAL},
            "after": {_layer(k): v for k, v in after.items() if k != TOTAL},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:  # one write per line, as events
            fh.write(json.dumps(record) + "\n")


def _layer(key: str) -> str:
    """``grad_2.0_norm/model.fc.weight`` -> ``model.fc.weight``."""
    return key.split("/", 1)[1] if "/" in key else key
