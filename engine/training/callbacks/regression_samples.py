"""``RegressionSamplesCallback``: what a regression model makes of a few validation samples."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from typing_extensions import override

from layerscope.engine.training.callbacks._render import FigureCallback, kind_slot, renderer
from layerscope.engine.training.callbacks._util import epoch_dir, task_of
from layerscope.engine.training.figures import _panels, _scatter
from layerscope.engine.training.paths import SAMPLES_PNG


def image_like(t: torch.Tensor) -> bool:
    """A batch of images: N×H×W or N×C×H×W with C in 1..4 and both sides at least 4."""
    if t.ndim == 3:
        return min(t.shape[1:]) >= 4
    return t.ndim == 4 and 1 <= t.shape[1] <= 4 and min(t.shape[2:]) >= 4


class RegressionSamplesCallback(FigureCallback):
    """Saves ``epoch_NNN/samples.png`` for tasks other than classification: input, target and
    prediction side by side (one row per sample) when targets are image-shaped, else a
    prediction-versus-target scatter of the first validation batch.

    Args:
        out_dir: the run folder.
        num_samples: rows of panels (image targets); the scatter uses the whole first batch.
        background: draw off the training loop (flushed at the end of fit).
        every_epoch: keep every epoch's PNG; by default a figure still queued when the next
            epoch's arrives is replaced by it (the last epoch's is always drawn).
    """

    def __init__(
        self,
        out_dir: str | Path,
        num_samples: int = 4,
        background: bool = True,
        every_epoch: bool = False,
    ) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        self.out_dir = Path(out_dir)
        self.num_samples = num_samples
        self.background = background
        self.every_epoch = every_epoch
        self._batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @override
    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or batch_idx or dataloader_idx:
            return
        if task_of(pl_module) == "classification":
            return
        x, y = batch[0], batch[1]
        if isinstance(outputs, dict) and "preds" in outputs:
            pred = outputs["preds"]
        else:
            with torch.no_grad():
                pred = pl_module(x)
        if not isinstance(pred, torch.Tensor) or not isinstance(y, torch.Tensor):
            return
        self._batch = (x.detach().cpu(), y.detach().cpu(), pred.detach().cpu())

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._batch is None or not trainer.is_global_zero or trainer.sanity_checking:
            return
        x, y, p = self._batch
        self._batch = None
        epoch, path = trainer.current_epoch, epoch_dir(self.out_dir, trainer.current_epoch)
        if image_like(y) and y.shape == p.shape:
            k = self.num_samples
            xs = x[:k].float().numpy() if image_like(x) else None
            ys, ps = y[:k].float().numpy(), p[:k].float().numpy()
            build = functools.partial(_panels, xs, ys, ps, epoch)
        else:
            ys, ps = y.float().reshape(-1).numpy(), p.float().reshape(-1).numpy()
            n = min(len(ys), len(ps))
            build = functools.partial(_scatter, ys[:n], ps[:n], epoch)
        slot = kind_slot(self.out_dir, SAMPLES_PNG, self.every_epoch)
        renderer.submit(path / SAMPLES_PNG, build, self.background, slot)
