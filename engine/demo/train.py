"""Training the demo ResNet-8 with Lightning on CPU."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerscope.engine.demo.common import DemoData, Progress

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

BATCH_SIZE = 64
LEARNING_RATE = 3e-3  # a little above Adam's default: converges in 1–3 epochs on digits

# ---------------------------------------------------------------------------------------------
# Training


def train_resnet8(
    data: DemoData, epochs: int, seed: int, workdir: Path, say: Progress
) -> tuple[nn.Module, Any]:
    """Train ResNet-8 with Lightning on CPU; return the eval-mode model and the trainer."""
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from layerscope.engine.training.module import ClassifierModule
    from layerscope.engine.zoo import ResNet8

    pl.seed_everything(seed, workers=True, verbose=False)
    model = ResNet8(num_classes=10)
    module = ClassifierModule(model, num_classes=10, lr=LEARNING_RATE)
    ds = TensorDataset(torch.from_numpy(data.x_train), torch.from_numpy(data.y_train))
    loader = DataLoader(
        ds, batch_size=BATCH_SIZE, shuffle=True, generator=torch.Generator().manual_seed(seed)
    )

    class _EpochProgress(pl.Callback):
        """One progress line per epoch, so a long build visibly moves (CLI and app alike)."""

        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            loss = trainer.callback_metrics.get("train_loss")
            tail = f", loss {float(loss):.3f}" if loss is not None else ""
            say(f"epoch {trainer.current_epoch + 1}/{epochs} done{tail}")

    # deterministic=True flips torch's process-wide deterministic mode (and CUBLAS config);
    # restore both afterwards: quantized kernels refuse to run with it, and callers share the
    # process.
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
        callbacks=[_EpochProgress()],
        default_root_dir=str(workdir),  # keep Lightning's scratch files out of the user's cwd
    )
    try:
        trainer.fit(module, train_dataloaders=loader)
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)
        if cublas is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas
    _recalibrate_batchnorm(model, data.x_train)
    return model.eval(), trainer


def _recalibrate_batchnorm(model: nn.Module, x: np.ndarray, batch: int = 256) -> None:
    """Set BatchNorm running statistics to the exact averages over the training images.

    After only a few dozen steps, the momentum-averaged running statistics still lag the
    weights, and eval-mode accuracy trails train-mode accuracy by several points. One
    no-grad pass with a cumulative average (momentum=None) fixes that; weights are unchanged.
    """
    import torch

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            model(torch.from_numpy(x[i : i + batch]))
    for bn, momentum in zip(bns, saved, strict=True):
        bn.momentum = momentum
    model.eval()
