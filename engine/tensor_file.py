"""A tensor's raw bytes in its file, read in chunks: big tensors never sit whole in memory.

A safetensors entry is the tensor's values, little-endian and in C order, at a byte range the
header gives. :func:`safetensors_span` finds that range for a ``TensorRef`` from the file itself
(the ref keeps its file and name; the header is re-read, as ``safe_open`` re-reads it on every
load), and :func:`read_chunks` hands it out chunk by chunk from a memory map, as ``safe_open``
does, without copying. Mapped pages count in the process's resident memory once touched, so each
chunk's pages are dropped (``MADV_DONTNEED``; they stay in the page cache) before the next chunk
is handed out. (``preadv`` into one reused buffer bounds memory as well, but copies every byte:
~25% slower on a 410 MB tensor.)

Anything unexpected (another format, a file changed since it was opened so that the entry no
longer matches the ref) gives ``None``, and the caller reads through the ref's loader, which
reports what is wrong in its own words.
"""

from __future__ import annotations

import json
import mmap
import os
import stat
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerscope.engine.errors import ModelFileError

if TYPE_CHECKING:
    import torch

    from layerscope.engine.model import TensorRef

_MAX_HEADER = 100 * 1024 * 1024  # the format's own limit
# safetensors dtype codes whose bytes torch reads as they are, as the statistics take them (the
# loader widens U64 and F8_E8M0 first, so those are left to it).
_RAW_CODES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2FNUZ": "float8_e5m2fnuz", "I64": "int64", "I32": "int32", "I16": "int16",
    "I8": "int8", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
}  # fmt: skip


@dataclass(frozen=True)
class RawSpan:
    """``nbytes`` bytes at ``offset`` of ``path``: a tensor's values of ``dtype``, raw, C order."""

    path: str
    offset: int
    nbytes: int
    dtype: str  # a torch dtype name

    def torch_dtype(self) -> torch.dtype:
        import torch

        return getattr(torch, self.dtype)


def safetensors_span(ref: TensorRef) -> RawSpan | None:
    """Where ``ref``'s values lie in its safetensors file, or ``None`` (see the module's notes)."""
    if not ref.source or sys.byteorder != "little" or ref.dtype not in _RAW_CODES.values():
        return None
    try:
        with open(ref.source, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            size = st.st_size
            prefix = fh.read(9)  # the header's length, then its opening brace
            if len(prefix) < 9 or prefix[8:] != b"{":
                return None
            (n,) = struct.unpack("<Q", prefix[:8])
            if n > min(_MAX_HEADER, size - 8):
                return None
            raw = prefix[8:] + fh.read(n - 1)
    except OSError:
        return None
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON (ValueError covers bad UTF-8 too)
        return None
    entry = header.get(ref.name) if isinstance(header, dict) else None
    if ref.name == "__metadata__" or not isinstance(entry, dict):
        return None
    offsets = entry.get("data_offsets")
    if (
        _RAW_CODES.get(entry.get("dtype")) != ref.dtype
        or entry.get("shape") != list(ref.shape)
        or not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and o >= 0 for o in offsets)
    ):
        return None
    start, end = offsets
    span = RawSpan(ref.source, 8 + n + start, end - start, ref.dtype)
    if span.nbytes != ref.numel * span.torch_dtype().itemsize or span.offset + span.nbytes > size:
        return None
    return span


def read_chunks(span: RawSpan, start: int, stop: int, n: int) -> Iterator[torch.Tensor]:
    """Elements ``[start, stop)`` of ``span`` as 1-D tensors of ``n`` elements (the last may be
    shorter), each mapped from the file and let go once the next is asked for (a ``ChunkReader``
    of ``layerscope.engine.stats``). A chunk kept longer still reads right (its pages come back
    from the file), it just counts in memory again.

    Raises:
        ModelFileError: the file cannot be read or ends before the span does.
    """
    import numpy as np
    import torch

    dtype = span.torch_dtype()
    item = dtype.itemsize
    if n < 1 or not 0 <= start <= stop or stop * item > span.nbytes:
        raise ValueError(f"bad chunk request: [{start}, {stop}) by {n} of {span.nbytes} bytes")
    if start == stop:
        return
    first, end = span.offset + start * item, span.offset + stop * item
    base = first - first % mmap.ALLOCATIONGRANULARITY  # where a mapping may start
    try:
        with open(span.path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < end:
                raise ModelFileError(
                    f"{span.path}: truncated: the tensor's bytes end at {end} but the file at {size}"
                )
            # Private (copy-on-write): writable, as torch wants, and never written back.
            mm = mmap.mmap(fh.fileno(), end - base, offset=base, access=mmap.ACCESS_COPY)
    except OSError as exc:
        raise ModelFileError(f"{span.path}: cannot read ({exc.strerror})") from None
    drop = getattr(mm, "madvise", None)  # not on Windows: there the pages stay until the end
    try:
        pos = first - base
        while pos < end - base:
            size = min(n * item, end - base - pos)
            # Through NumPy: its view holds a buffer export, so close() below cannot unmap
            # pages under a chunk still alive (torch.frombuffer holds none).
            chunk = np.frombuffer(mm, dtype=np.uint8, count=size, offset=pos)
            yield torch.from_numpy(chunk).view(dtype)
            del chunk
            if drop is not None:
                page = pos - pos % mmap.PAGESIZE
                drop(mmap.MADV_DONTNEED, page, pos + size - page)
            pos += size
    finally:
        try:
            mm.close()
        except BufferError:  # a chunk is still held: the mapping goes with its last tensor
            pass
