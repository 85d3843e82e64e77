"""Opening a sharded folder lists it once and stats each file once; links still take the full check.

The open path asks many questions of the folder (which format, the cache key, the index, each
shard, config.json); these tests pin that the answers come from one ``os.scandir`` and one
``stat`` per file, that no shard is resolved link by link unless it is a link, and that
``transformers`` is looked for only when somebody asks whether the folder is runnable.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from big_models import write_sharded

import layerscope.engine.loaders.hf_module as hf_module
from layerscope.engine.errors import UnsafePathError
from layerscope.engine.loaders import load_model


def _count(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[object]:
    calls: list[object] = []
    real = getattr(module, name)

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args[0] if args else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_a_plain_sharded_folder_is_listed_once_and_no_shard_is_resolved(
    sharded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans = _count(monkeypatch, os, "scandir")
    listings = _count(monkeypatch, os, "listdir")
    realpaths = _count(monkeypatch, os.path, "realpath")
    model = load_model(sharded)
    assert len(list(model.tensors())) > 0
    assert [Path(p) for p in scans] == [sharded]  # type: ignore[arg-type]
    assert listings == []
    # the cache key is the folder's (device, inode): nothing is resolved link by link
    assert realpaths == []


def test_each_file_of_the_folder_is_stat_ed_at_most_once(
    sharded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats = _count(monkeypatch, os, "stat")
    load_model(sharded)
    files = [Path(p).name for p in stats if Path(p).parent == sharded]  # type: ignore[arg-type]
    shards = [n for n in os.listdir(sharded) if n.endswith(".safetensors")]
    assert len(shards) == 3
    assert not any(files.count(n) > 1 for n in shards), files


def test_a_shard_linked_inside_the_folder_still_opens_through_the_full_check(
    tmp_path: Path, weights: dict[str, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_sharded(tmp_path / "m", weights, shards=2)
    shard = folder / "model-00002-of-00002.safetensors"
    (folder / "real.bin").write_bytes(shard.read_bytes())
    shard.unlink()
    shard.symlink_to("real.bin")
    realpaths = _count(monkeypatch, os.path, "realpath")
    model = load_model(folder)
    assert {t.name for t in model.tensors()} == set(weights)
    assert any(Path(p).name == shard.name for p in realpaths)  # type: ignore[arg-type]


def test_a_shard_linked_out_of_the_folder_is_refused(
    tmp_path: Path, weights: dict[str, torch.Tensor]
) -> None:
    folder = write_sharded(tmp_path / "m", weights, shards=2)
    shard = folder / "model-00001-of-00002.safetensors"
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes(shard.read_bytes())
    shard.unlink()
    shard.symlink_to(outside)
    with pytest.raises(UnsafePathError, match="outside the model's folder"):
        load_model(folder)


def test_transformers_is_looked_for_only_when_asked(
    sharded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hf_module._transformers_installed.cache_clear()
    monkeypatch.setattr(hf_module.importlib.util, "find_spec", lambda name: None)
    model = load_model(sharded)
    assert model.module_factory is not None  # config.json names a model type
    assert hf_module._transformers_installed.cache_info().currsize == 0  # not asked on open
    assert model.runnable is False  # asked now: not installed
    assert model.ensure_module() is None
    hf_module._transformers_installed.cache_clear()
