"""A user's own Lightning module for the tests of runs from a hand-written script: it knows
nothing of layerscope and logs what it likes (``from tests.own_script_module import Denoiser``)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn


class Denoiser(pl.LightningModule):
    """A user's regression module: knows nothing of layerscope, logs what it likes."""

    def __init__(self, width: int = 8, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(6, width), nn.GELU(), nn.Linear(width, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self(x), y))
        self.log("val_mae", nn.functional.l1_loss(self(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
