"""safetensors files and Hugging Face-style sharded folders, opened by reading headers only.

The header (8-byte length + JSON) gives every tensor's name, dtype, shape and byte range; that is
all opening needs. A tensor's bytes are read through ``safe_open`` (memory-mapped) when asked for.
"""

from __future__ import annotations

import json
import os
import re
import struct
from functools import partial
from pathlib import Path
from typing import Any

from layerscope.engine.errors import ModelFileError
from layerscope.engine.io import load_json
from layerscope.engine.loaders.common import for_stats, guess_kinds
from layerscope.engine.loaders.folder_scan import FolderScan
from layerscope.engine.loaders.hf_module import module_factory  # light: no transformers import
from layerscope.engine.loaders.sniff import read_index
from layerscope.engine.model import Model, TensorRef, TreeBuilder
from layerscope.engine.paths import quote, resolve_inside

# safetensors dtype codes → torch dtype names, with bytes per element.
DTYPES: dict[str, tuple[str, float]] = {
    "F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
    "F8_E4M3": ("float8_e4m3fn", 1), "F8_E5M2": ("float8_e5m2", 1),
    "F8_E4M3FNUZ": ("float8_e4m3fnuz", 1), "F8_E5M2FNUZ": ("float8_e5m2fnuz", 1),
    "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1),
    "U64": ("uint64", 8), "U32": ("uint32", 4), "U16": ("uint16", 2), "U8": ("uint8", 1),
    "BOOL": ("bool", 1),
}  # fmt: skip
_DTYPE_NAMES = {code: name for code, (name, _) in DTYPES.items()}
# Bits per element of every dtype code safetensors accepts (some have no statistics here).
_BITS: dict[str, int] = {code: int(nbytes * 8) for code, (_, nbytes) in DTYPES.items()}
_BITS.update({"F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "F8_E8M0": 8, "C64": 64})
_MAX_HEADER = 100 * 1024 * 1024  # the format's own limit


def _read_raw_header(path: Path, size: int | None) -> tuple[dict[str, Any], int]:
    """The header's JSON object, unchecked, and the size of the data section after it."""
    try:
        if size is None:
            size = path.stat().st_size
        fd = os.open(path, os.O_RDONLY)
        try:  # two reads: the length, then exactly the header
            head = os.read(fd, 8)
            if len(head) < 8:
                raise ModelFileError(f"{path}: truncated safetensors file ({size} bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > _MAX_HEADER:  # refused before reading: the format's own cap
                raise ModelFileError(
                    f"{path}: corrupt safetensors header (length {n} exceeds the 100 MB limit)"
                )
            if n > size - 8:
                raise ModelFileError(f"{path}: corrupt safetensors header (length {n} > file)")
            raw = os.read(fd, n)
            while len(raw) < n:  # a read may stop short (signals, network file systems)
                more = os.read(fd, n - len(raw))
                if not more:
                    break  # the file shrank since its stat: the JSON below says so
                raw += more
        finally:
            os.close(fd)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror})") from None
    header = load_json(raw, f"{path}: safetensors header", _MAX_HEADER)
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: corrupt safetensors header (not a JSON object)")
    return header, size - 8 - n


def _checked_refs(path: Path, header: dict[str, Any], data_size: int) -> dict[str, TensorRef]:
    """A lazy ref per tensor of ``header``, each entry checked as ``safe_open`` checks it.

    A header that passed here but that ``safe_open`` rejected would only fail when a tensor is
    read, deep in statistics code; so every entry is checked now: known dtype, a shape of
    non-negative integers, a byte range whose size matches the shape, ranges in order without
    gaps or overlaps, and the data section covered exactly. Runs once per tensor of every shard
    on open: one loop that checks an entry and makes its ref, each value looked at once.
    Raises ``ModelFileError`` for the first bad entry.
    """
    source = str(path)
    refs: dict[str, TensorRef] = {}
    spans: list[tuple[int, int, str]] = []
    bits_of, names = _BITS, _DTYPE_NAMES
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
                raise ModelFileError(f"{path}: corrupt safetensors __metadata__ (not text values)")
            continue
        if type(info) is not dict:
            raise ModelFileError(f"{path}: corrupt safetensors entry for {name!r}")
        code, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        bits = bits_of.get(code) if type(code) is str else None
        if bits is None:
            raise ModelFileError(f"{path}: tensor {name!r} has an unknown dtype")
        numel = 1
        shape_ok = type(shape) is list
        if shape_ok:
            for d in shape:
                if type(d) is not int or d < 0:  # not bool, float or NaN
                    shape_ok = False
                    break
                numel *= d
        if not shape_ok:
            raise ModelFileError(
                f"{path}: tensor {name!r} has an invalid shape (not a list of non-negative integers)"
            )
        if type(offsets) is not list or len(offsets) != 2:
            raise ModelFileError(f"{path}: tensor {name!r} has invalid data offsets")
        start, end = offsets
        if type(start) is not int or type(end) is not int or not 0 <= start <= end:
            raise ModelFileError(f"{path}: tensor {name!r} has invalid data offsets")
        if end > data_size:
            raise ModelFileError(
                f"{path}: truncated: tensor {name!r} ends at byte {end} but the data has {data_size}"
            )
        if numel * bits != (end - start) * 8:
            raise ModelFileError(
                f"{path}: tensor {name!r}: shape {shape} of {code} needs "
                f"{numel * bits / 8:g} bytes but its data offsets span {end - start}"
            )
        spans.append((start, end, name))
        refs[name] = TensorRef(name, tuple(shape), names.get(code) or code.lower(),
                               partial(_read_tensor, source, name), "", "", None, source,
                               end - start)  # fmt: skip
    spans.sort()
    pos = 0
    for start, end, name in spans:
        if start != pos:
            what = "overlaps the tensor before it" if start < pos else "leaves a gap before it"
            raise ModelFileError(f"{path}: corrupt safetensors offsets: tensor {name!r} {what}")
        pos = end
    if pos != data_size:
        raise ModelFileError(
            f"{path}: corrupt safetensors file: tensors cover {pos} of its {data_size} data bytes"
        )
    return refs


def _read_tensor(source: str, name: str) -> Any:
    """Tensor ``name`` of the safetensors file ``source``, memory-mapped: pages are read as the
    statistics touch them and go with the tensor."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(source, framework="pt") as fh:
            t = fh.get_tensor(name)
    except (SafetensorError, TypeError) as exc:  # TypeError: dtypes torch has no type for
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelFileError(f"{source}: cannot read tensor {name!r} ({reason})") from None
    return for_stats(t, f"{source}: tensor {name!r}")


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[Any, ...]:
    """``layers.2`` before ``layers.10``: safetensors headers store names sorted as plain text."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(name))


def file_order(
    names: list[str], metadata: Any = None, listed: list[str] | None = None
) -> list[str]:
    """Tensor names in the model's order where the file keeps one: ``__metadata__["order"]`` (a
    JSON list or comma-separated names, as layerscope's demo writes it), else an index's own
    order when that is not simply sorted; otherwise ``layers.2`` before ``layers.10``."""
    order: list[str] = []
    raw = metadata.get("order") if isinstance(metadata, dict) else None
    if isinstance(raw, str):
        try:
            parsed = json.loads(raw) if raw.lstrip().startswith("[") else raw.split(",")
        except ValueError:
            parsed = []
        order = [n.strip() for n in parsed if isinstance(n, str)]
    elif listed is not None and listed != sorted(listed):
        order = listed
    present = set(names)
    first = [n for n in dict.fromkeys(order) if n in present]
    seen = set(first)
    return first + sorted((n for n in names if n not in seen), key=natural_key)


def load_safetensors(path: Path, **_: Any) -> Model:
    header, data_size = _read_raw_header(path, None)
    refs = _checked_refs(path, header, data_size)
    builder = TreeBuilder()
    builder.add_tensors(refs[name] for name in file_order(list(refs), header.get("__metadata__")))
    guess_kinds(builder)
    meta: dict[str, Any] = {}
    if isinstance(header.get("__metadata__"), dict):
        meta["file_metadata"] = header["__metadata__"]
    return builder.build(path, "safetensors", metadata=meta)


def shard_files(
    folder: Path, weight_map: dict[str, str] | None = None, scan: FolderScan | None = None
) -> list[tuple[Path, int]]:
    """The shards of a sharded folder with their sizes: from its index when there is one, else
    every *.safetensors. Each is checked to be a regular file inside the folder."""
    scan = scan or FolderScan(folder)
    if weight_map is None:
        weight_map = read_index(folder, scan)
    if weight_map:
        files = list(dict.fromkeys(weight_map.values()))
        # Entries come from a file: '..', an absolute path or a link out would read elsewhere.
        missing = [
            quote(f)
            for f in files
            if not scan.plain(f)
            and not os.path.exists(resolve_inside(folder, f, "the index names shard"))
        ]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise ModelFileError(
                f"{folder}: the index names shard(s) that are missing: "
                f"{', '.join(missing[:5])}{more}"
            )
        checked = [scan.regular_file(f, "the index names shard", "a shard") for f in files]
        return [(folder / f, st.st_size) for f, (_, st) in zip(files, checked, strict=True)]
    shards = sorted(n for n in scan.names() if n.endswith(".safetensors"))
    if not shards:
        raise ModelFileError(f"{folder}: no .safetensors shards in this folder")
    return [(folder / n, scan.regular_file(n, "the shard", "a shard")[1].st_size) for n in shards]


def load_sharded(
    path: Path, *, device: str = "cpu", scan: FolderScan | None = None, **_: Any
) -> Model:
    """One model across every shard of a folder, in the index's order."""
    scan = scan or FolderScan(path)
    weight_map = read_index(path, scan)
    shards = shard_files(path, weight_map, scan)
    # Keyed by the path as text: hashing str is much cheaper than Path, per tensor.
    refs: dict[str, dict[str, TensorRef]] = {}
    metadata = None
    for shard, size in shards:
        header, data_size = _read_raw_header(shard, size)
        refs[str(shard)] = _checked_refs(shard, header, data_size)
        if metadata is None:
            metadata = header.get("__metadata__")
    builder = TreeBuilder()
    if weight_map:
        shard_refs = {
            fname: refs[str(path / fname)] for fname in dict.fromkeys(weight_map.values())
        }
        ordered = []
        for name in file_order(list(weight_map), metadata, listed=list(weight_map)):
            ref = shard_refs[weight_map[name]].get(name)
            if ref is None:
                shard = path / weight_map[name]
                raise ModelFileError(
                    f"{shard}: the index says it holds {quote(name)}, but it does not"
                )
            ordered.append(ref)
        builder.add_tensors(ordered)
    else:
        owner = {n: r for shard_refs in refs.values() for n, r in shard_refs.items()}
        builder.add_tensors(owner[n] for n in sorted(owner, key=natural_key))
    guess_kinds(builder)
    meta: dict[str, Any] = {"shards": len(shards), "total_bytes": sum(n for _, n in shards)}
    config = read_config_json(path, scan)
    if config:
        meta["config"] = config
    model = builder.build(path, "safetensors-sharded", metadata=meta)
    model.module_factory = module_factory(path, config, device)
    return model


def read_config_json(folder: Path, scan: FolderScan | None = None) -> dict[str, object]:
    """The interesting bits of a Hugging Face ``config.json``, without needing ``transformers``."""
    scan = scan or FolderScan(folder)
    if not scan.is_file("config.json"):  # is_file: a FIFO or folder of that name is left out too
        return {}
    try:  # the same path rule as the shards: a config.json linked from elsewhere is ignored
        cfg_path, _ = scan.regular_file("config.json", "config.json", "config.json")
    except ModelFileError:
        return {}
    try:  # optional facts: a broken config.json is left out, the model still opens
        cfg = load_json(cfg_path, f"{cfg_path}", 10 * 1024 * 1024)
    except ModelFileError:
        return {}
    if not isinstance(cfg, dict):
        return {}
    keys = ("architectures", "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "vocab_size", "torch_dtype")  # fmt: skip
    return {k: cfg[k] for k in keys if k in cfg}
