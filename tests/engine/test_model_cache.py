"""``load_model`` caches by the file itself (device, inode, size, mtime), not by its name."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from layerscope.engine.loaders import load_model


def _write(path: Path, value: float) -> Path:
    save_file({"fc.weight": torch.full((2, 2), value)}, str(path))
    return path


def test_the_same_file_twice_is_one_model(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.safetensors", 1.0)
    assert load_model(path) is load_model(path)


def test_a_link_to_the_file_finds_the_same_model(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.safetensors", 1.0)
    link = tmp_path / "link.safetensors"
    link.symlink_to(path)
    assert load_model(link) is load_model(path)


def test_a_file_replaced_under_its_name_is_read_again_even_with_the_same_size_and_time(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path / "m.safetensors", 1.0)
    first = load_model(path)
    st = path.stat()
    new = _write(tmp_path / "new.safetensors", 2.0)  # same size: same shapes and dtype
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(new, path)
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    second = load_model(path)
    assert second is not first
    assert float(second.tensor("fc.weight").load()[0, 0]) == 2.0


def test_a_sharded_folder_is_read_again_when_a_shard_changes(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    folder.mkdir()
    _write(folder / "model-00001-of-00001.safetensors", 1.0)
    first = load_model(folder)
    assert load_model(folder) is first
    shard = _write(tmp_path / "x.safetensors", 3.0)
    os.replace(shard, folder / "model-00001-of-00001.safetensors")
    os.utime(folder / "model-00001-of-00001.safetensors", ns=(1, 2_000_000_000_000_000_000))
    assert load_model(folder) is not first
