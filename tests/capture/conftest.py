"""Tiny models and data shared by the capture tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn


class TupleDictNet(nn.Module):
    """A head returning a tuple and a block returning a dict: named parts must come apart."""

    class Split(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x.relu(), -x

    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"logits": self.fc(x), "features": x}

    def __init__(self) -> None:
        super().__init__()
        self.split = self.Split()
        self.heads = self.Heads()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        a, b = self.split(x)
        return self.heads(a + b)


class SharedNet(nn.Module):
    """One Linear applied twice: its two calls are two tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(self.act(self.lin(x)))


class ConvNet(nn.Module):
    """Small CNN, exportable to ONNX, used for torch-vs-ONNX comparisons."""

    input_shape = (3, 8, 8)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.relu(self.conv(x)))))


@pytest.fixture
def convnet() -> ConvNet:
    torch.manual_seed(0)
    return ConvNet().eval()


@pytest.fixture
def convnet_onnx(convnet: ConvNet, tmp_path: Path) -> Path:
    path = tmp_path / "convnet.onnx"
    torch.onnx.export(
        convnet, torch.randn(1, 3, 8, 8), str(path), dynamo=False,
        input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
    )  # fmt: skip
    return path


@pytest.fixture
def cifar_folder(tmp_path: Path) -> tuple[Path, np.ndarray, list[int]]:
    """A ``test_batch`` in the real CIFAR-10 python format: a pickled dict with bytes keys."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    n = 5
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(i % 10) for i in range(n)]
    with (folder / "test_batch").open("wb") as fh:
        pickle.dump({b"batch_label": b"testing batch 1 of 1", b"labels": labels, b"data": data}, fh)
    return folder, data, labels
