"""The picker's view of a folder: variants of one model grouped, formats sniffed, junk skipped."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from layerscope.engine.discover import discover, split_variant


def test_variants_are_grouped_and_paired(tiny, tiny_onnx: Path, tmp_path: Path) -> None:
    folder = tiny_onnx.parent
    (folder / "tiny_int8.onnx").write_bytes(tiny_onnx.read_bytes())
    (folder / "tiny_uint8.onnx").write_bytes(tiny_onnx.read_bytes())
    torch.save(tiny.state_dict(), folder / "tiny.pt")
    (folder / "notes.txt").write_text("not a model")
    (folder / "labels.json").write_text(json.dumps({"0": "cat"}))
    groups = discover(folder)
    assert [g.name for g in groups] == ["tiny"]
    entries = groups[0].entries
    assert [e.name for e in entries] == [
        "tiny.onnx",
        "tiny.pt",
        "tiny_int8.onnx",
        "tiny_uint8.onnx",
    ]
    assert {e.format for e in entries} == {"onnx", "torch-zip"}
    pairs = {(f.name, q.name) for f, q in groups[0].pairs()}
    assert pairs == {("tiny.onnx", "tiny_int8.onnx"), ("tiny.onnx", "tiny_uint8.onnx")}


def test_sharded_subfolder_is_one_entry(tiny, tmp_path: Path) -> None:
    shard_dir = tmp_path / "llm"
    shard_dir.mkdir()
    for i in (1, 2):
        save_file(
            {f"w{i}": torch.zeros(10)}, str(shard_dir / f"model-0000{i}-of-00002.safetensors")
        )
    groups = discover(tmp_path)
    assert len(groups) == 1
    entry = groups[0].entries[0]
    assert entry.format == "safetensors-sharded" and entry.shards == 2
    assert entry.size == sum(p.stat().st_size for p in shard_dir.glob("*.safetensors"))


def test_split_variant() -> None:
    assert split_variant("resnet8_uint8") == ("resnet8", "uint8")
    assert split_variant("resnet8_int8") == ("resnet8", "int8")
    assert split_variant("resnet8_state") == ("resnet8", "state")
    assert split_variant("resnet8") == ("resnet8", "float")
