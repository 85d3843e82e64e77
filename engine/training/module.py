"""The LightningModule for image classification."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from engine.training.config import OptimizerConfig, SchedulerConfig
from engine.training.optim import build_optimizer, build_scheduler


class ClassifierModule(pl.LightningModule):
    """Cross-entropy classifier around any ``nn.Module`` that maps images to logits.

    Logs ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` (top-1), ``val_acc_top5`` and,
    every ``grad_norm_every`` steps, the global L2 ``grad_norm``. ``validation_step`` returns the
    predictions so callbacks (confusion matrix, sample grid) need no second forward pass.

    Args:
        model: the network.
        num_classes: number of output classes.
        lr: learning rate when no ``optimizer`` config is given (Adam).
        optimizer: optimizer choice and hyperparameters.
        scheduler: learning-rate schedule.
        grad_norm_every: steps between grad-norm logs; 0 turns it off.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int = 10,
        lr: float = 1e-3,
        optimizer: OptimizerConfig | None = None,
        scheduler: SchedulerConfig | None = None,
        grad_norm_every: int = 0,
    ) -> None:
        super().__init__()
        self.model = model
        self.num_classes = num_classes
        self.lr = lr
        self.optimizer_cfg = optimizer or OptimizerConfig(name="adam", lr=lr)
        self.scheduler_cfg = scheduler or SchedulerConfig()
        self.grad_norm_every = grad_norm_every
        self.loss = nn.CrossEntropyLoss()
        top5 = min(5, num_classes)
        self.train_acc = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.val_acc_top5 = MulticlassAccuracy(num_classes, top_k=top5, average="micro")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = self.loss(logits, y)
        self.train_acc(logits, y)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        self.log("train_acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = self(x)
        self.val_acc(logits, y)
        self.val_acc_top5(logits, y)
        # sync_dist: under DDP every rank sees part of the validation set.
        self.log("val_loss", self.loss(logits, y), prog_bar=True, sync_dist=True)
        self.log("val_acc", self.val_acc, prog_bar=True)
        self.log("val_acc_top5", self.val_acc_top5)
        return {"preds": logits.argmax(1), "target": y}

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        every = self.grad_norm_every
        if every and self.global_step % every == 0:
            norms = [p.grad.detach().norm(2) for p in self.parameters() if p.grad is not None]
            if norms:
                self.log("grad_norm", torch.stack(norms).norm(2), on_step=True, on_epoch=False)

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.parameters(), self.optimizer_cfg)
        trainer = self._trainer
        max_epochs = trainer.max_epochs if trainer is not None and trainer.max_epochs else 1
        if trainer is not None and self.scheduler_cfg.name != "none":
            # estimated_stepping_batches accounts for limit_train_batches, accumulation and DDP.
            total = int(trainer.estimated_stepping_batches)
            steps_per_epoch = max(1, total // max(1, max_epochs))
        else:
            steps_per_epoch = 1
        scheduler = build_scheduler(
            optimizer, self.scheduler_cfg, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs
        )
        if scheduler is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
