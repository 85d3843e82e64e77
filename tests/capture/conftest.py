"""Tiny models and data shared by the capture tests."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from capture_models import ConvNet, SharedNet, TupleDictNet  # noqa: F401


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
