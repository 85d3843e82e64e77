"""Built-in architectures and ``module:Class`` resolution for binding state dicts to code.

``resnet8`` is the MLPerf Tiny image-classification network (CIFAR-10, ~78k parameters);
``smallcnn`` is a tiny CNN for tests and quick experiments.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from engine.errors import ArchitectureError


class BasicBlock(nn.Module):
    """Two 3×3 conv/BN pairs with a residual add; a strided 1×1 conv on the shortcut when downsampling."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = (
            nn.Conv2d(in_ch, out_ch, 1, stride=stride)
            if stride != 1 or in_ch != out_ch
            else nn.Identity()
        )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu2(y + self.shortcut(x))


class ResNet8(nn.Module):
    """ResNet-8 as in MLPerf Tiny: a 16-channel stem, three residual stacks (16, 32, 64), pool, linear."""

    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.layer3 = BasicBlock(32, 64, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.pool(x)))


class SmallCNN(nn.Module):
    """Two conv/ReLU/pool stages and a linear head: small enough for unit tests."""

    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, width * 2, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(width * 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.features(x)))


ZOO: dict[str, Callable[..., nn.Module]] = {"resnet8": ResNet8, "smallcnn": SmallCNN}


def resolve_arch(spec: str) -> Callable[..., nn.Module]:
    """A zoo name (``resnet8``) or ``package.module:Class`` → the class (or factory) to build."""
    if spec in ZOO:
        return ZOO[spec]
    if ":" not in spec:
        raise ArchitectureError(
            f"unknown architecture {spec!r}: use a built-in name ({', '.join(ZOO)}) "
            "or 'package.module:Class'"
        )
    mod_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ArchitectureError(f"cannot import {mod_name!r} for --arch {spec}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ArchitectureError(f"{mod_name!r} has no attribute {attr!r} (from --arch {spec})")
    if not callable(obj):
        raise ArchitectureError(f"--arch {spec} is not a class or function")
    return obj


def build(spec: str, **kwargs: Any) -> nn.Module:
    """Instantiate an architecture; constructor errors become one-line ``ArchitectureError``s."""
    factory = resolve_arch(spec)
    try:
        model = factory(**kwargs)
    except TypeError as exc:
        raise ArchitectureError(f"cannot build {spec} with {kwargs}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise ArchitectureError(f"--arch {spec} did not return a torch.nn.Module")
    return model
