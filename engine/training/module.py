"""The LightningModules of the two tasks: classification and regression (tensor to tensor)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from layerscope.engine.errors import ConfigError
from layerscope.engine.training.config import OptimizerConfig, SchedulerConfig
from layerscope.engine.training.optim import build_optimizer, build_scheduler


def resolve_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A built-in loss by name, or ``package.module:function`` (an ``nn.Module`` class is built
    without arguments); called as ``loss(prediction, target)``."""
    builtin: dict[str, Callable[[], nn.Module]] = {
        "cross_entropy": nn.CrossEntropyLoss,
        "mse": nn.MSELoss,
        "l1": nn.L1Loss,
        "huber": nn.HuberLoss,
    }
    if name in builtin:
        return builtin[name]()
    from layerscope.engine import zoo
    from layerscope.engine.errors import LayerscopeError

    try:
        fn = zoo.resolve_arch(name)  # the same import rules as model.arch
    except LayerscopeError as exc:
        raise ConfigError(f"task.loss {name!r} cannot be used: {exc.message}") from None
    if isinstance(fn, type) and issubclass(fn, nn.Module):
        return fn()
    return fn


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
        loss: str = "cross_entropy",
        metrics: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.task = "classification"
        self.model = model
        self.num_classes = num_classes
        self.lr = lr
        self.optimizer_cfg = optimizer or OptimizerConfig(name="adam", lr=lr)
        self.scheduler_cfg = scheduler or SchedulerConfig()
        self.grad_norm_every = grad_norm_every
        self.loss = resolve_loss(loss)
        chosen = set(metrics if metrics is not None else ("accuracy", "top5"))
        top5 = min(5, num_classes)
        # Top-1 accuracy is always on: it picks the best checkpoint unless the recipe says otherwise.
        self.train_acc = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.val_acc_top5 = (
            MulticlassAccuracy(num_classes, top_k=top5, average="micro")
            if "top5" in chosen
            else None
        )
        if "f1" in chosen:
            from torchmetrics.classification import MulticlassF1Score

            self.val_f1: Any = MulticlassF1Score(num_classes, average="macro")
        else:
            self.val_f1 = None

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
        # sync_dist: under DDP every rank sees part of the validation set.
        self.log("val_loss", self.loss(logits, y), prog_bar=True, sync_dist=True)
        self.log("val_acc", self.val_acc, prog_bar=True)
        if self.val_acc_top5 is not None:
            self.val_acc_top5(logits, y)
            self.log("val_acc_top5", self.val_acc_top5)
        if self.val_f1 is not None:
            self.val_f1(logits, y)
            self.log("val_f1", self.val_f1)
        return {"preds": logits.argmax(1), "target": y}

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Recipes use GradNormCallback (per layer, before and after clipping); this keeps the
        # module's own total for plain Trainers.
        every = self.grad_norm_every
        if every and self.global_step % every == 0:
            from pytorch_lightning.utilities import grad_norm

            norms = grad_norm(self, norm_type=2)
            if norms:
                self.log("grad_norm", norms["grad_2.0_norm_total"], on_step=True, on_epoch=False)

    def configure_optimizers(self) -> Any:
        return configure_optimizers(self, self.optimizer_cfg, self.scheduler_cfg)


def _psnr_metric() -> Any:
    from torchmetrics import MeanMetric
    from torchmetrics.functional.image import peak_signal_noise_ratio

    class PSNR(MeanMetric):
        """PSNR per batch, the batch's target range as the data range, averaged over batches
        (torchmetrics' own needs a fixed data range that arbitrary tensors do not have)."""

        def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:  # type: ignore[override]
            span = (target.max() - target.min()).clamp_min(1e-12)
            super().update(peak_signal_noise_ratio(preds, target, data_range=span))

    return PSNR()


def _regression_metric(name: str) -> Any:
    import torchmetrics

    if name == "mse":
        return torchmetrics.MeanSquaredError()
    if name == "mae":
        return torchmetrics.MeanAbsoluteError()
    if name == "psnr":
        return _psnr_metric()
    if name == "ssim":
        return torchmetrics.image.StructuralSimilarityIndexMeasure()
    raise ConfigError(f"unknown regression metric {name!r}; allowed: mse, mae, psnr, ssim")


class RegressionModule(pl.LightningModule):
    """Any tensor to tensor: ``loss(model(x), y)`` with MSE, L1, Huber or a user's function.

    Logs ``train_loss``, ``val_loss`` and ``val_<metric>`` for each of ``metrics`` (mse, mae,
    psnr, ssim; ssim only for image-shaped outputs, N×C×H×W). ``validation_step`` returns the
    predictions for the sample view.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: str = "mse",
        metrics: list[str] | None = None,
        lr: float = 1e-3,
        optimizer: OptimizerConfig | None = None,
        scheduler: SchedulerConfig | None = None,
    ) -> None:
        super().__init__()
        self.task = "regression"
        self.model = model
        self.loss = resolve_loss(loss)
        self.optimizer_cfg = optimizer or OptimizerConfig(name="adam", lr=lr)
        self.scheduler_cfg = scheduler or SchedulerConfig()
        names = list(metrics if metrics is not None else ("mse", "mae"))
        self.val_metrics = nn.ModuleDict({n: _regression_metric(n) for n in names})
        self._skipped: set[str] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch[0], batch[1]
        loss = self.loss(self(x), y)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, sync_dist=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        x, y = batch[0], batch[1]
        pred = self(x)
        self.log("val_loss", self.loss(pred, y), prog_bar=True, sync_dist=True)
        for name, metric in self.val_metrics.items():
            if name == "ssim" and pred.ndim != 4:
                if name not in self._skipped:
                    from loguru import logger

                    logger.info("val_ssim off: outputs are not images (N×C×H×W)")
                    self._skipped.add(name)
                continue
            metric(pred.detach().float(), y.float())
            self.log(f"val_{name}", metric)
        return {"preds": pred.detach(), "target": y}

    def configure_optimizers(self) -> Any:
        return configure_optimizers(self, self.optimizer_cfg, self.scheduler_cfg)


def configure_optimizers(
    module: pl.LightningModule, optimizer_cfg: OptimizerConfig, scheduler_cfg: SchedulerConfig
) -> Any:
    """The optimizer and a per-step schedule sized from the trainer (shared by both tasks)."""
    optimizer = build_optimizer(module.parameters(), optimizer_cfg)
    trainer = module._trainer
    max_epochs = trainer.max_epochs if trainer is not None and trainer.max_epochs else 1
    if trainer is not None and scheduler_cfg.name != "none":
        # estimated_stepping_batches accounts for limit_train_batches, accumulation and DDP.
        total = int(trainer.estimated_stepping_batches)
        steps_per_epoch = max(1, total // max(1, max_epochs))
    else:
        steps_per_epoch = 1
    scheduler = build_scheduler(
        optimizer, scheduler_cfg, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs
    )
    if scheduler is None:
        return optimizer
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
    }
