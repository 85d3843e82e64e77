"""Small models for the capture tests, in a uniquely named module that test files can import."""

from __future__ import annotations

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
