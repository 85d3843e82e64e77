"""Shared pieces of the demo build: file list, result type, errors, atomic writes, the data."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from layerscope.engine.errors import LayerscopeError
from layerscope.engine.io import atomic_path

if TYPE_CHECKING:
    import numpy as np

MANIFEST_NAME = "demo_manifest.json"
MANIFEST_VERSION = 1
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
ONNX_OPSET = 17
CALIBRATION_IMAGES = 256  # real training images used to calibrate every int8 variant
TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the test split stays fixed whatever the training seed, so runs compare

Progress = Callable[[str], None]


class DemoError(LayerscopeError):
    """The demo models could not be written (bad output folder, disk full, ...)."""

    title = "Demo models"


@dataclass(frozen=True)
class DemoResult:
    """One written file: what it is, how big, and its accuracy on the digits test split."""

    file: str  # file name inside the output folder
    path: str  # absolute path
    format: str  # e.g. "onnx-qdq-int8"; see FILES for the full list
    description: str
    size_bytes: int
    accuracy: float  # top-1 on the digits test split, measured from the file itself
    framework: str  # what evaluated the file: "torch", "torchscript" or "onnxruntime"


# (file name, format, description) in the order the files are written and listed.
FILES: list[tuple[str, str, str]] = [
    ("resnet8.pt", "torch-pickle", "whole nn.Module (torch.save(model); needs --trust to load)"),
    ("resnet8_state.pt", "torch-state-dict", "state dict (loads with weights_only=True)"),
    (
        "resnet8.ckpt",
        "lightning-ckpt",
        "Lightning checkpoint (state_dict with 'model.' prefix, optimizer state)",
    ),
    ("resnet8.safetensors", "safetensors", "safetensors weights"),
    ("resnet8.onnx", "onnx", "float ONNX (BatchNorm kept as its own node)"),
    ("resnet8_int8.onnx", "onnx-qdq-int8", "ONNX Runtime static QDQ, int8, per-channel weights"),
    ("resnet8_uint8.onnx", "onnx-qoperator-uint8", "ONNX Runtime static QOperator, uint8"),
    (
        "resnet8_int8.pt",
        "torchscript-int8",
        "torch.ao FX int8 (x86 backend; qnnpack on ARM), TorchScript (code: runs with --trust)",
    ),
]


# ---------------------------------------------------------------------------------------------
# Small helpers


atomic = atomic_path  # the demo writes through torch.save/onnx.save: they want a path


@contextlib.contextmanager
def quantized_engine() -> Iterator[str]:
    """Select torch's int8 CPU backend for the block, then restore the previous one.

    x86 (fbgemm kernels) where the CPU has it; qnnpack on ARM hosts such as Grace machines.
    """
    import torch

    supported = torch.backends.quantized.supported_engines
    name = next((e for e in ("x86", "fbgemm", "qnnpack") if e in supported), None)
    if name is None:
        raise DemoError(
            f"this torch build has no int8 CPU backend (x86, fbgemm or qnnpack; it has "
            f"{', '.join(supported)}), so resnet8_int8.pt cannot be made here"
        )
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = name
    try:
        yield name
    finally:
        torch.backends.quantized.engine = before


def write_text_atomic(path: Path, text: str) -> None:
    with atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class DemoData:
    x_train: np.ndarray  # float32 N×3×32×32, normalised
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits() -> DemoData:
    """Digits as normalised NCHW float32 (the layout and scaling every demo model expects)."""
    import numpy as np

    from layerscope.engine.datasets import DIGITS_MEAN, DIGITS_STD, digits_images, digits_split

    images, labels = digits_images()
    x = images.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
    mean = np.asarray(DIGITS_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(DIGITS_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    x = np.ascontiguousarray((x - mean) / std, dtype=np.float32)
    train_idx, test_idx = digits_split(TEST_FRACTION, SPLIT_SEED)
    return DemoData(x[train_idx], labels[train_idx], x[test_idx], labels[test_idx])


def calibration_batches(data: DemoData, batch: int = 32) -> list[np.ndarray]:
    x = data.x_train[:CALIBRATION_IMAGES]
    return [x[i : i + batch] for i in range(0, len(x), batch)]


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())
