"""``SampleVisualizationCallback``: a grid of validation images with true and predicted labels."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from typing_extensions import override

from layerscope.engine.training.callbacks._render import FigureCallback, kind_slot, renderer
from layerscope.engine.training.callbacks._util import (
    class_names_of,
    classification_only,
    epoch_dir,
    preds_and_target,
)
from layerscope.engine.training.figures import _grid
from layerscope.engine.training.paths import SAMPLES_PNG


class SampleVisualizationCallback(FigureCallback):
    """Saves ``epoch_NNN/samples.png``: the first ``num_samples`` validation images, titled
    "true / predicted", green when right and red when wrong.

    Args:
        out_dir: the run folder.
        num_samples: images in the grid.
        class_names: label names; default from the datamodule.
        mean, std: to undo normalisation for display; default from the datamodule, else none.
        background: draw the PNG on a background thread (flushed at the end of fit).
        every_epoch: keep every epoch's PNG; by default a figure still queued when the next
            epoch's arrives is replaced by it (the last epoch's is always drawn).
    """

    def __init__(
        self,
        out_dir: str | Path,
        num_samples: int = 16,
        class_names: list[str] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        background: bool = True,
        every_epoch: bool = False,
    ) -> None:
        self.background = background
        self.every_epoch = every_epoch
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        self.out_dir = Path(out_dir)
        self.num_samples = num_samples
        self.class_names = class_names
        self.mean, self.std = mean, std
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
        if (
            trainer.sanity_checking
            or not trainer.is_global_zero
            or batch_idx != 0
            or dataloader_idx
            or classification_only(self, pl_module, "class-labelled sample grid")
        ):
            return
        preds, target = preds_and_target(pl_module, outputs, batch)
        k = self.num_samples
        self._batch = (batch[0][:k].detach().cpu(), target[:k].cpu(), preds[:k].cpu())

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._batch is None or not trainer.is_global_zero or trainer.sanity_checking:
            return
        x, y, p = self._batch
        self._batch = None
        dm = getattr(trainer, "datamodule", None)
        mean = self.mean or getattr(dm, "mean", None)
        std = self.std or getattr(dm, "std", None)
        if mean is not None and std is not None:
            x = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
        names = class_names_of(trainer, self.class_names, getattr(pl_module, "num_classes", None))
        images = x.clamp(0, 1).float().numpy()
        labels, preds, epoch = y.tolist(), p.tolist(), trainer.current_epoch
        renderer.submit(
            epoch_dir(self.out_dir, epoch) / SAMPLES_PNG,
            functools.partial(_grid, images, labels, preds, names, epoch),
            self.background,
            kind_slot(self.out_dir, SAMPLES_PNG, self.every_epoch),
        )
