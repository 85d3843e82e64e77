"""Test models with an importable home (pickles of whole modules must find their class again).

Not in conftest.py: conftest modules of different test folders share one name, so a class
defined there cannot be found by the unpickler.
"""

from __future__ import annotations

import torch
from torch import nn


class Tiny(nn.Module):
    """Conv → BN → ReLU → pool → Linear: one of each kind the tree must show."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.relu(self.bn(self.conv(x)))).flatten(1))
