"""safetensors files and Hugging Face-style sharded folders, opened by reading headers only.

The header (8-byte length + JSON) gives every tensor's name, dtype, shape and byte range; that is
all opening needs. A tensor's bytes are read through ``safe_open`` (memory-mapped) when asked for.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

from engine.errors import ModelFileError
from engine.loaders.common import guess_kinds
from engine.loaders.sniff import read_index
from engine.model import Model, TensorRef, TreeBuilder

# safetensors dtype codes → torch dtype names, with bytes per element.
DTYPES: dict[str, tuple[str, float]] = {
    "F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
    "F8_E4M3": ("float8_e4m3fn", 1), "F8_E5M2": ("float8_e5m2", 1),
    "F8_E4M3FNUZ": ("float8_e4m3fnuz", 1), "F8_E5M2FNUZ": ("float8_e5m2fnuz", 1),
    "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1),
    "U64": ("uint64", 8), "U32": ("uint32", 4), "U16": ("uint16", 2), "U8": ("uint8", 1),
    "BOOL": ("bool", 1),
}  # fmt: skip
_MAX_HEADER = 100 * 1024 * 1024  # the format's own limit


def read_header(path: Path) -> dict[str, Any]:
    """The parsed JSON header of one safetensors file, checked against the file's size."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            raw_len = fh.read(8)
            if len(raw_len) < 8:
                raise ModelFileError(f"{path}: truncated safetensors file ({size} bytes)")
            (n,) = struct.unpack("<Q", raw_len)
            if n > min(_MAX_HEADER, size - 8):
                raise ModelFileError(f"{path}: corrupt safetensors header (length {n} > file)")
            header = json.loads(fh.read(n))
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: corrupt safetensors header ({exc})") from None
    data_size = size - 8 - n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            end = int(info["data_offsets"][1])
        except (KeyError, TypeError, IndexError, ValueError):
            raise ModelFileError(f"{path}: corrupt safetensors entry for {name!r}") from None
        if end > data_size:
            raise ModelFileError(
                f"{path}: truncated: tensor {name!r} ends at byte {end} but the data has {data_size}"
            )
    return header


def _ref(source: str, name: str, info: dict[str, Any]) -> TensorRef:
    """A lazy ref to tensor ``name`` of the safetensors file ``source`` (called once per tensor)."""
    code = info.get("dtype", "?")
    dtype = DTYPES[code][0] if code in DTYPES else code.lower()
    start, end = info["data_offsets"]

    def load() -> Any:
        from safetensors import safe_open

        # Memory-mapped: pages are read as the statistics touch them and go with the tensor.
        with safe_open(source, framework="pt") as fh:
            return fh.get_tensor(name)

    shape = tuple(map(int, info.get("shape", ())))
    return TensorRef(name=name, shape=shape, dtype=dtype, loader=load, source=source,
                     nbytes=int(end) - int(start))  # fmt: skip


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[Any, ...]:
    """``layers.2`` before ``layers.10``: safetensors headers store names sorted as plain text."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(name))


def load_safetensors(path: Path, **_: Any) -> Model:
    header = read_header(path)
    builder = TreeBuilder()
    source = str(path)
    for name in sorted((n for n in header if n != "__metadata__"), key=natural_key):
        builder.add_tensor(_ref(source, name, header[name]))
    guess_kinds(builder)
    meta: dict[str, Any] = {}
    if isinstance(header.get("__metadata__"), dict):
        meta["file_metadata"] = header["__metadata__"]
    return builder.build(path, "safetensors", metadata=meta)


def shard_files(folder: Path, weight_map: dict[str, str] | None = None) -> list[Path]:
    """The shards of a sharded folder: from its index when there is one, else every *.safetensors."""
    if weight_map is None:
        weight_map = read_index(folder)
    if weight_map:
        files = list(dict.fromkeys(weight_map.values()))
        missing = [f for f in files if not (folder / f).is_file()]
        if missing:
            raise ModelFileError(
                f"{folder}: the index names shard(s) that are missing: {', '.join(missing)}"
            )
        return [folder / f for f in files]
    shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        raise ModelFileError(f"{folder}: no .safetensors shards in this folder")
    return shards


def load_sharded(path: Path, **_: Any) -> Model:
    """One model across every shard of a folder, in the index's order."""
    weight_map = read_index(path)
    shards = shard_files(path, weight_map)
    # Keyed by the path as text: hashing str is much cheaper than Path, per tensor.
    headers = {str(shard): read_header(shard) for shard in shards}
    builder = TreeBuilder()
    if weight_map:
        shard_of = {fname: str(path / fname) for fname in dict.fromkeys(weight_map.values())}
        for name in sorted(weight_map, key=natural_key):
            fname = weight_map[name]
            shard = shard_of[fname]
            info = headers[shard].get(name)
            if info is None:
                raise ModelFileError(f"{shard}: the index says it holds {name!r}, but it does not")
            builder.add_tensor(_ref(shard, name, info))
    else:
        owner = {
            n: shard for shard, header in headers.items() for n in header if n != "__metadata__"
        }
        for name in sorted(owner, key=natural_key):
            builder.add_tensor(_ref(owner[name], name, headers[owner[name]][name]))
    guess_kinds(builder)
    meta: dict[str, Any] = {
        "shards": len(shards),
        "total_bytes": sum(s.stat().st_size for s in shards),
    }
    config = read_config_json(path)
    if config:
        meta["config"] = config
    return builder.build(path, "safetensors-sharded", metadata=meta)


def read_config_json(folder: Path) -> dict[str, object]:
    """The interesting bits of a Hugging Face ``config.json``, without needing ``transformers``."""
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        return {}
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError):
        return {}
    keys = ("architectures", "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "vocab_size", "torch_dtype")  # fmt: skip
    return {k: cfg[k] for k in keys if k in cfg}
