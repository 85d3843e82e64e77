"""Hostile file-system fixtures for the hardening tests: escaping shards, FIFOs, tiny models.

A uniquely named helper module (imported as ``from hostile_fs import ...``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

W = np.arange(12, dtype=np.float32).reshape(3, 4)


def make_safetensors(path: Path, names: tuple[str, ...] = ("layer.weight",)) -> Path:
    """A tiny safetensors file holding one 3×4 float32 tensor per name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({n: W + i for i, n in enumerate(names)}, str(path))
    return path


def write_index(folder: Path, weight_map: dict[str, object]) -> Path:
    """A Hugging Face-style ``model.safetensors.index.json`` with this ``weight_map``."""
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return index


def release(fifo: Path) -> None:
    """Open ``fifo``'s write end without blocking and close it: a reader stuck in ``open`` (the
    bug these tests guard against) then sees end-of-file, so a regression fails, never hangs."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: nobody is reading it, nothing to release
        return
    os.close(fd)


class Fifos:
    """Makes FIFOs and releases every one of them at teardown."""

    def __init__(self) -> None:
        self.made: list[Path] = []

    def make(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        self.made.append(path)
        return path

    def release_all(self) -> None:
        for fifo in self.made:
            release(fifo)
