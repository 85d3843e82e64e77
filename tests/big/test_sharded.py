"""Sharded safetensors folders open as one lazy model, and broken ones say which file is at fault."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import safetensors
import torch
from big_models import write_sharded

from layerscope.engine.cli import main
from layerscope.engine.discover import discover
from layerscope.engine.errors import ModelFileError
from layerscope.engine.loaders import load_model


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch.equal(a.view(torch.int16 if a.element_size() == 2 else torch.uint8),
                            b.view(torch.int16 if b.element_size() == 2 else torch.uint8)))  # fmt: skip


@pytest.mark.parametrize("index", [True, False], ids=["with-index", "shards-only"])
def test_sharded_folder_opens_as_one_model(
    tmp_path: Path, weights: dict[str, torch.Tensor], index: bool
) -> None:
    folder = write_sharded(tmp_path / "m", weights, shards=3, index=index)
    model = load_model(folder)
    assert model.format == "safetensors-sharded"
    assert {t.name for t in model.tensors()} == set(weights)
    assert model.metadata["shards"] == 3
    assert model.metadata["config"]["architectures"] == ["LlamaForCausalLM"]
    assert model.metadata["config"]["num_hidden_layers"] == 3
    sources = {Path(t.source).name for t in model.tensors()}
    assert sources == {f"model-{k:05d}-of-00003.safetensors" for k in (1, 2, 3)}
    # One tree across every shard: layer 1's tensors live in different files.
    assert len(model.layer("model.layers").children) == 3
    assert model.layer("model.layers.1.mlp.up_proj").kind == "~Linear"
    for ref in model.tensors():
        w = weights[ref.name]
        assert ref.dtype == str(w.dtype).removeprefix("torch.")
        assert ref.nbytes == w.numel() * w.element_size()
        assert _same(ref.load(), w)  # bit for bit, NaN included


def test_opening_reads_headers_only(sharded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No tensor bytes at open: ``safe_open`` (the only way to read them) is not even called."""
    real = safetensors.safe_open
    calls: list[str] = []

    def spy(path: str, *args, **kwargs):
        calls.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(safetensors, "safe_open", spy)
    model = load_model(sharded)
    assert calls == []
    ref = model.tensor("model.layers.2.mlp.up_proj.weight")
    ref.load()
    assert calls == [Path(ref.source).name]  # exactly the one shard that holds it


def test_index_naming_a_missing_shard_names_it(sharded: Path) -> None:
    (sharded / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(ModelFileError, match=r"missing: 'model-00002-of-00003\.safetensors'"):
        load_model(sharded)


def test_cli_reports_a_missing_shard_in_one_line(
    sharded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (sharded / "model-00003-of-00003.safetensors").unlink()
    assert main(["inspect", str(sharded), "--summary"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "model-00003-of-00003.safetensors" in err and "Traceback" not in err


def test_index_claiming_a_tensor_its_shard_lacks_is_refused(sharded: Path) -> None:
    index = sharded / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    data["weight_map"]["model.ghost.weight"] = "model-00001-of-00003.safetensors"
    index.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"model-00001-of-00003.*'model\.ghost\.weight'"):
        load_model(sharded)


def test_corrupt_index_is_a_clear_error(sharded: Path) -> None:
    (sharded / "model.safetensors.index.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"model\.safetensors\.index\.json: not a valid"):
        load_model(sharded)


def test_truncated_shard_is_named(sharded: Path) -> None:
    shard = sharded / "model-00002-of-00003.safetensors"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelFileError, match=r"model-00002-of-00003\.safetensors: truncated"):
        load_model(sharded)


def test_discover_shows_a_sharded_folder_as_one_entry(tmp_path: Path, sharded: Path) -> None:
    shutil.copy(sharded / "config.json", tmp_path / "notes.json")  # not a model: ignored
    groups = discover(tmp_path)
    entries = [e for g in groups for e in g.entries]
    assert len(entries) == 1
    entry = entries[0]
    assert entry.path == sharded and entry.format == "safetensors-sharded"
    assert entry.shards == 3
    assert entry.size == sum(p.stat().st_size for p in sharded.glob("*.safetensors"))
