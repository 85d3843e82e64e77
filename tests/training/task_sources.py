"""Data sources and losses that the task tests name as ``task_sources:function`` (this folder is
on ``sys.path`` under pytest, as a user's working folder is for ``layerscope train``)."""

from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset


def image_pairs(n: int = 12, size: int = 16) -> tuple[TensorDataset, TensorDataset]:
    """(train, val) 1×size×size inputs and their negation."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 1, size, size, generator=gen)
    return TensorDataset(x[4:], -x[4:]), TensorDataset(x[:4], -x[:4])


class VectorData(pl.LightningDataModule):
    """y = 2x over 4-vectors, batches of 4."""

    def setup(self, stage: str | None = None) -> None:
        x = torch.from_numpy(np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32))
        self.train, self.val = TensorDataset(x[4:], 2 * x[4:]), TensorDataset(x[:4], 2 * x[:4])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train, batch_size=4)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=4)


def vector_datamodule() -> VectorData:
    return VectorData()


def not_data() -> int:
    return 3


def half_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """A user's loss: half the mean squared error."""
    return 0.5 * torch.mean((pred - target) ** 2)
