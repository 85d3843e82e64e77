"""Find a model file's format from its content (magic bytes, zip members), never its extension."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

from layerscope.engine.errors import ModelFileError, UnknownFormatError
from layerscope.engine.io import load_json
from layerscope.engine.loaders.folder_scan import FolderScan
from layerscope.engine.loaders.zip_index import ZipIndex
from layerscope.engine.paths import require_regular_file, special_kind

FORMATS = ("torchscript", "torch-zip", "torch-pickle", "safetensors", "safetensors-sharded", "onnx")
# Field tags that may follow ir_version (field 1) at the start of an ONNX ModelProto.
_ONNX_NEXT_TAGS = {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72}
_MAX_INDEX = 100 * 1024 * 1024  # an index of a million tensors is ~60 MB


def _is_numbered_shard(name: str) -> bool:
    """``*-of-*.safetensors``."""
    return name.endswith(".safetensors") and "-of-" in name[: -len(".safetensors")]


def is_sharded_folder(path: Path, scan: FolderScan | None = None) -> bool:
    """Shards with an index or numbered names, or a Hugging Face folder (config.json beside
    one ``model.safetensors``). ``scan``: the folder's listing, when the caller has one."""
    if scan is None:
        if not path.is_dir():
            return False
        scan = FolderScan(path)
    names = scan.names()
    return (
        any(n.endswith(".safetensors.index.json") for n in names)
        or any(_is_numbered_shard(n) for n in names)
        or (scan.is_file("config.json") and any(n.endswith(".safetensors") for n in names))
    )


def sniff(path: str | Path) -> str:
    """The format of ``path``: one of ``FORMATS``. Raises ``ModelFileError`` if unreadable or unknown."""
    fmt, archive = sniff_open(path)
    if archive is not None:
        archive.close()
    return fmt


def sniff_open(
    path: str | Path, scan: FolderScan | None = None, st: os.stat_result | None = None
) -> tuple[str, ZipIndex | None]:
    """``sniff``, plus the zip archive it had to open to tell a PyTorch zip from TorchScript,
    still open (the caller closes it): its central directory is parsed once per model open.
    ``scan``: the listing of ``path`` when the caller already knows it is a folder; ``st``: its
    ``stat`` when the caller has it (links followed)."""
    path = Path(path)
    if scan is None and (st is None or stat.S_ISDIR(st.st_mode)):
        if not path.exists():
            raise ModelFileError(f"{path}: no such file or folder")
        if path.is_dir():
            scan = FolderScan(path)
    if scan is not None:
        if is_sharded_folder(path, scan):
            return "safetensors-sharded", None
        raise UnknownFormatError(
            f"{path} is a folder without safetensors shards; open a model file inside it instead"
        )
    if st is None:
        st = require_regular_file(path, "a model")  # before open: a FIFO would block forever
    elif special_kind(st.st_mode) is not None:
        require_regular_file(path, "a model")  # the same one-line refusal
    size = st.st_size
    try:
        with open(path, "rb", buffering=0) as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror})") from None
    if len(head) < 8:
        raise UnknownFormatError(f"{path} is empty or truncated ({size} bytes); not a model file")
    if head[:4] == b"PK\x03\x04":
        return _sniff_zip(path)
    if head[0] == 0x80 and 2 <= head[1] <= 5:
        return "torch-pickle", None
    (header_len,) = struct.unpack("<Q", head[:8])
    if head[8:9] == b"{" and 0 < header_len <= size - 8:
        return "safetensors", None
    if head[0] == 0x08 and head[1] < 0x80 and head[2] in _ONNX_NEXT_TAGS:
        return "onnx", None
    raise UnknownFormatError(
        f"{path}: unknown format (not PyTorch, TorchScript, ONNX or safetensors by its content)"
    )


def _sniff_zip(path: Path) -> tuple[str, ZipIndex]:
    # ZipIndex: the central directory alone, half zipfile.ZipFile's time on a first open; every
    # corruption is already one ModelFileError line.
    index = ZipIndex(path)
    # One string search over all names (NUL, refused inside a name, ends each) instead of a
    # Python test per member.
    names = "\0".join(index.entries) + "\0"
    if "/constants.pkl\0" in names or "/code/" in names:
        return "torchscript", index
    if "/data.pkl\0" in names or "data.pkl" in index.entries:
        return "torch-zip", index
    index.close()
    raise UnknownFormatError(f"{path}: a zip archive, but not a PyTorch or TorchScript file")


def read_index(path: Path, scan: FolderScan | None = None) -> dict[str, str]:
    """``weight_map`` (tensor name → shard file) of a sharded folder's index, if there is one."""
    scan = scan or FolderScan(path)
    for name in sorted(n for n in scan.names() if n.endswith(".safetensors.index.json")):
        # a link out would be read and parsed
        index, _ = scan.regular_file(name, "the index", "a safetensors index")
        data = load_json(index, f"{index}: not a valid safetensors index: the file", _MAX_INDEX)
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        # JSON keys are text; the values must be too (one C-level pass over their types)
        if not isinstance(weight_map, dict) or not set(map(type, weight_map.values())) <= {str}:
            raise ModelFileError(
                f"{index}: not a valid safetensors index "
                "(its weight_map must map tensor names to shard file names)"
            )
        return weight_map
    return {}
