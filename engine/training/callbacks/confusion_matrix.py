"""``ConfusionMatrixCallback``: a per-epoch confusion matrix heatmap of the validation set."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from typing_extensions import override

from layerscope.engine.training.callbacks._render import FigureCallback, kind_slot, renderer
from layerscope.engine.training.callbacks._util import (
    class_names_of,
    classification_only,
    epoch_dir,
    preds_and_target,
)
from layerscope.engine.training.figures import _heatmap
from layerscope.engine.training.io import atomic_write_json
from layerscope.engine.training.paths import CONFUSION_JSON, CONFUSION_PNG


class ConfusionMatrixCallback(FigureCallback):
    """Saves ``epoch_NNN/confusion_matrix.png`` (and ``.json`` with the counts) after each validation.

    Args:
        out_dir: the run folder.
        num_classes: classes; defaults to the module's ``num_classes``.
        class_names: axis labels; default from the datamodule, else indices.
        background: draw the PNG on a background thread (flushed at the end of fit).
        every_epoch: keep every epoch's PNG; by default a figure still queued when the next
            epoch's arrives is replaced by it (the last epoch's is always drawn).
    """

    def __init__(
        self,
        out_dir: str | Path,
        num_classes: int | None = None,
        class_names: list[str] | None = None,
        background: bool = True,
        every_epoch: bool = False,
    ) -> None:
        self.background = background
        self.every_epoch = every_epoch
        self.out_dir = Path(out_dir)
        self.num_classes = num_classes
        self.class_names = class_names
        self.metric: Any = None

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from torchmetrics.classification import MulticlassConfusionMatrix

        if self.num_classes is None and classification_only(self, pl_module, "confusion matrix"):
            self.metric = None
            return
        n = self.num_classes or getattr(pl_module, "num_classes", None)
        if not n:
            raise ValueError(
                "ConfusionMatrixCallback needs num_classes (or a module with num_classes)"
            )
        self.num_classes = int(n)
        self.class_names = class_names_of(trainer, self.class_names, self.num_classes)
        # On the module's device so updates need no copies.
        self.metric = MulticlassConfusionMatrix(self.num_classes).to(pl_module.device)

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
        if trainer.sanity_checking or self.metric is None:
            return
        preds, target = preds_and_target(pl_module, outputs, batch)
        self.metric.update(preds, target)

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.metric is None:
            return
        matrix = self.metric.compute().cpu()  # syncs across ranks: every rank must call it
        self.metric.reset()
        if not trainer.is_global_zero:
            return
        folder = epoch_dir(self.out_dir, trainer.current_epoch)
        names = self.class_names or []
        atomic_write_json(
            folder / CONFUSION_JSON,
            {"epoch": trainer.current_epoch, "classes": names, "matrix": matrix.tolist()},
        )
        counts, epoch = matrix.numpy(), trainer.current_epoch
        renderer.submit(
            folder / CONFUSION_PNG,
            functools.partial(_heatmap, counts, names, epoch),
            self.background,
            kind_slot(self.out_dir, CONFUSION_PNG, self.every_epoch),
        )
