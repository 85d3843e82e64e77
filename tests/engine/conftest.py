"""Small seeded models in every format, written by the tests themselves."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.engine.engine_models import Tiny


@pytest.fixture
def tiny() -> nn.Module:
    torch.manual_seed(0)
    m = Tiny().eval()
    with torch.no_grad():  # non-trivial BN statistics
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(0.5, 2)
    return m


@pytest.fixture
def tiny_onnx(tiny: nn.Module, tmp_path: Path) -> Path:
    path = tmp_path / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            tiny, (torch.randn(1, 3, 8, 8),), str(path), dynamo=False, do_constant_folding=False,
            input_names=["input"], output_names=["logits"],
        )  # fmt: skip
    return path
