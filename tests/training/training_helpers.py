"""Helpers for the training tests (a uniquely named module: ``conftest`` is not importable by name
when several test folders have one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from layerscope.engine.training.config import RunConfig, from_dict

HERE = Path(__file__).parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tiny_config(**sections: dict[str, Any]) -> RunConfig:
    """SmallCNN on 192 digits, batch 32, CPU, 1 epoch; ``sections`` override per section."""
    data: dict[str, Any] = {
        "name": "tiny",
        "model": {"arch": "smallcnn"},
        "data": {"kind": "digits", "batch_size": 32, "max_samples": 192},
        "optimizer": {"name": "adam", "lr": 0.01},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "limit_val_batches": 2},
        "logging": {"progress_every": 2, "grad_norm_every": 2, "num_samples": 4},
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    return from_dict(data)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def assert_png(path: Path) -> None:
    """A real, decodable PNG."""
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"
    with Image.open(path) as im:
        im.verify()
