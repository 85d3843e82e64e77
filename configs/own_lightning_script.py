"""Your own Lightning script, seen by layerscope with one line (the ``callbacks=`` below).

    python configs/own_lightning_script.py [EPOCHS]      # from the layerscope checkout
    layerscope runs                                       # listed like a recipe's run
    layerscope runs tail my-fno                           # follow it from another terminal

Nothing here is a layerscope recipe: the module, the data and the loop are plain Lightning, and
any logger you add (TensorBoard, CSV, W&B) keeps working beside layerscope.
"""

import sys

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from layerscope.engine.training.fno import FNO2d, smoothing_pairs
from layerscope.engine.training.hook import callbacks


class Smoother(pl.LightningModule):
    def __init__(self, width: int = 16, modes: int = 8, lr: float = 3e-3) -> None:
        super().__init__()
        self.save_hyperparameters()  # shown by `layerscope runs compare`
        self.net = FNO2d(in_channels=1, out_channels=1, width=width, modes=modes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
        x, y = batch
        pred = self(x)
        self.log("val_loss", nn.functional.mse_loss(pred, y))
        self.log("val_mae", nn.functional.l1_loss(pred, y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.hparams.lr)


if __name__ == "__main__":
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    train, val = smoothing_pairs(n=128, size=64)
    trainer = pl.Trainer(
        max_epochs=epochs,
        callbacks=callbacks(name="my-fno", task="regression"),  # <- the one line
    )
    trainer.fit(
        Smoother(),
        DataLoader(train, batch_size=16, shuffle=True),
        DataLoader(val, batch_size=16),
    )
