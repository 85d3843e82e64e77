"""Builders of hostile ``torch.save`` zip archives for the zip-safety tests (tiny, deterministic)."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import torch


def state_dict() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "fc.weight": torch.randn(16, 16, generator=g) - 0.5,  # data/0: 1 KB, barely compressible
        "fc.bias": torch.randn(256, generator=g),  # data/1: after data/0 in the archive
    }


def saved(path: Path) -> Path:
    torch.save(state_dict(), path)
    return path


def repack(src: Path, dst: Path, *, deflate: str = "", shorten: str = "", cut: int = 0) -> Path:
    """Copy ``src`` member by member: DEFLATE members ending in ``deflate``, drop ``cut`` bytes of
    members ending in ``shorten``. CRCs stay valid (zipfile computes them), so it is a good zip."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            data = zi.read(info)
            if shorten and info.filename.endswith(shorten):
                data = data[: len(data) - cut]
            ctype = zipfile.ZIP_DEFLATED if deflate and info.filename.endswith(deflate) else 0
            zo.writestr(info.filename, data, compress_type=ctype)
    return dst


def with_pickle(dst: Path, payload: bytes, storages: dict[str, bytes] | None = None) -> Path:
    """A torch-style archive whose ``data.pkl`` is ``payload`` (stored, or deflated if big)."""
    with zipfile.ZipFile(dst, "w") as zo:
        ctype = zipfile.ZIP_DEFLATED if len(payload) > 1 << 20 else zipfile.ZIP_STORED
        zo.writestr("archive/data.pkl", payload, compress_type=ctype)
        zo.writestr("archive/byteorder", b"little")
        for key, data in (storages or {}).items():
            zo.writestr(f"archive/data/{key}", data)
        zo.writestr("archive/version", b"3\n")
    return dst


def expanded_tensor_pickle(numel: int) -> bytes:
    """``{"w": <float32 tensor of numel elements, stride 0, on a 1-element storage>}``."""
    return b"\x80\x02}(" + _unicode("w") + tensor_ops("0", 1, (numel,), (0,)) + b"u."


def tensor_ops(
    key: str, storage_numel: int, size: tuple[int, ...], stride: tuple[int, ...]
) -> bytes:
    """Pickle opcodes that push ``_rebuild_tensor_v2(FloatStorage key, 0, size, stride, ...)``."""
    return b"".join([
        b"ctorch._utils\n_rebuild_tensor_v2\n(",
        b"(" + _unicode("storage") + b"ctorch\nFloatStorage\n" + _unicode(key) + _unicode("cpu")
        + _int(storage_numel) + b"tQ",
        _int(0) + _tuple(size) + _tuple(stride) + b"\x89",
        b"ccollections\nOrderedDict\n)RtR",
    ])  # fmt: skip


def _unicode(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(v: int) -> bytes:
    if 0 <= v < 1 << 31:
        return b"J" + struct.pack("<i", v)
    return b"\x8a\x08" + v.to_bytes(8, "little", signed=True)


def _tuple(vals: tuple[int, ...]) -> bytes:
    return b"(" + b"".join(_int(v) for v in vals) + b"t"


def dag_pickle(depth: int) -> bytes:
    """A dict DAG: level i holds level i+1 twice (memoised), so naive walks take 2**depth steps.

    The bottom level holds one 4-element float32 tensor on storage "0"."""
    # Bottom level first: memo slot i holds level i; each level references level i+1 twice.
    out = [b"\x80\x02"]
    out.append(b"}(" + _unicode("w") + tensor_ops("0", 4, (4,), (1,)) + b"u" + _put(depth))
    for level in range(depth - 1, -1, -1):
        out.append(b"}(" + _unicode("a") + _get(level + 1) + _unicode("b") + _get(level + 1)
                   + b"u" + _put(level))  # fmt: skip
    out.append(b".")
    return b"".join(out)


def self_ref_pickle() -> bytes:
    """``d = {"w": <4-element tensor on storage "0">}; d["self"] = d`` as a pickle."""
    return (b"\x80\x02}" + _put(0) + _unicode("w") + tensor_ops("0", 4, (4,), (1,)) + b"s"
            + _unicode("self") + _get(0) + b"s.")  # fmt: skip


def _put(i: int) -> bytes:
    return b"r" + struct.pack("<I", i)


def _get(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)


def bomb_pickle(size: int) -> bytes:
    """A valid pickle of one huge (highly compressible) bytes object: ``{"junk": b"\\0" * size}``."""
    return b"\x80\x03}" + _unicode("junk") + b"B" + struct.pack("<I", size) + b"\0" * size + b"s."
