"""Array inputs: ``.npy`` and ``.npz`` files (``x.npy[0:8]``, ``train.npz:name[0:8]``), used as
given, with headers checked before anything is allocated."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from layerscope.engine.errors import InputError
from layerscope.engine.inputs.batch import InputBatch, sample_slice

ARRAY_SPEC = re.compile(
    r"(?P<path>.+?\.(?:npz|npy))(?::(?P<array>[^\[\]]+))?(?:\[(?P<range>[^\]]*)\])?", re.I
)


def npy_batch(
    spec: str,
    path: Path,
    shape: tuple[int, ...] | None,
    max_samples: int | None,
    rng: str | None = None,
) -> InputBatch:
    _check_npy_header(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, MemoryError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:80]
        raise InputError(f"cannot read {path} as a .npy array ({reason})") from None
    return _array(spec, arr, path.name, shape, max_samples, rng, "npy")


def npz_batches(
    spec: str,
    path: Path,
    array: str | None,
    rng: str | None,
    shape: tuple[int, ...] | None,
    max_samples: int | None,
) -> InputBatch | dict[str, InputBatch]:
    """An .npz: the named array, its only one, or every array (named inputs) when ``array`` is
    not given and it holds several."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            members = {i.filename.removesuffix(".npy"): i for i in zf.infolist()}
            for name, info in members.items():
                if array is None or name == array:
                    _check_npz_member(zf, info, path.name)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise InputError(f"{path.name} is not a valid .npz file") from None
    shown = ", ".join(quoted(n) for n in list(members)[:10])
    if array is not None and array not in members:
        raise InputError(f"{path.name} holds no array named {quoted(array)}; it holds {shown}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if array is None and len(members) > 1:
                if rng is not None:
                    raise InputError(f"{path.name} holds several arrays ({shown}): name one")
                return {
                    n: _array(
                        f"{spec}:{n}", npz[n], f"{path.name}:{n}", None, max_samples, None, "npz"
                    )  # fmt: skip
                    for n in members
                }
            name = array or next(iter(members), None)
            if name is None:
                raise InputError(f"{path.name} holds no arrays")
            arr = npz[name]
    except (ValueError, OSError, EOFError, MemoryError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:80]
        raise InputError(f"cannot read {path.name} as a .npz archive ({reason})") from None
    return _array(spec, arr, f"{path.name}:{name}", shape, max_samples, rng, "npz")


def quoted(name: str) -> str:
    return repr(name[:80])


def _check_npz_member(zf: Any, info: Any, fname: str) -> None:
    """Refuse a member whose .npy header claims more than it holds, before reading it."""
    import math

    from numpy.lib import format as npy_format

    bad = f"{fname}: member {quoted(info.filename)} is not a valid .npy array"
    try:
        with zf.open(info) as fh:
            version = npy_format.read_magic(fh)
            read = {(1, 0): npy_format.read_array_header_1_0,
                    (2, 0): npy_format.read_array_header_2_0}.get(version)  # fmt: skip
            if read is None:
                raise InputError(bad)
            shape, _, dtype = read(fh)
            header = fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, RuntimeError):
        raise InputError(bad) from None
    if dtype.hasobject:
        raise InputError(
            f"{fname}: {quoted(info.filename)} holds Python objects; capture needs numbers"
        )
    if any(d < 0 for d in shape) or math.prod(shape) * dtype.itemsize > info.file_size - header:
        raise InputError(f"{bad} (its header claims more data than it holds)")


def _array(
    spec: str,
    arr: np.ndarray,
    name: str,
    shape: tuple[int, ...] | None,
    max_samples: int | None,
    rng: str | None,
    source: str,
) -> InputBatch:
    """An array used as given: a batch axis added when it lacks one, a range of samples taken,
    floats as float32, integers as int64 (token ids) unless an image model takes them."""
    import torch

    if arr.dtype.kind not in "fiub":
        raise InputError(f"{name} holds {arr.dtype} values; capture needs numbers")
    transforms = []
    if shape is not None and tuple(arr.shape) == tuple(shape):
        arr = arr[None]
        transforms.append("added a batch axis")
    elif shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise InputError(
            f"{name} has shape {tuple(arr.shape)}; the model takes {tuple(shape)} per sample "
            f"(or N×{'×'.join(map(str, shape))})"
        )
    if arr.ndim == 0:
        arr = arr[None]
    picked = ""
    if rng is not None:
        arr = arr[sample_slice(rng, len(arr), name)]
        picked = f"[{rng.strip()}]"
        transforms.append(f"samples {rng.strip()}")
    arr = arr[: max_samples or None]
    image_ints = shape is not None and len(shape) == 3 and arr.dtype.kind in "iu"
    dtype = np.int64 if arr.dtype.kind in "iu" and not image_ints else np.float32
    if arr.dtype.kind == "b":
        dtype = np.bool_
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=dtype))
    dims = "×".join(str(d) for d in t.shape)
    kind = "integers, " if dtype is np.int64 else ""
    desc = f"array {name}{picked} {dims} ({kind}used as given, no normalisation)"
    return InputBatch(t, spec, source, desc, transforms=transforms)


def _check_npy_header(path: Path) -> None:
    """Refuse a .npy whose header claims more data than the file holds, from the header alone
    (``np.load`` would allocate the claimed size first: 11 TiB from a 128-byte file)."""
    import math

    from numpy.lib import format as npy_format

    bad = f"{path.name} is not a valid .npy file (unreadable header)"
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            version = npy_format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(fh)
            else:  # 3.0 only differs for structured dtypes with non-Latin-1 field names
                raise InputError(f"{path.name}: .npy format version {version} is not supported")
            data_bytes = size - fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError, TypeError):
        raise InputError(bad) from None  # numpy's messages quote the header's text
    if dtype.hasobject:
        raise InputError(f"{path.name} holds Python objects; capture needs numbers")
    if any(d < 0 for d in shape):
        raise InputError(bad)
    claimed = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if claimed > data_bytes:
        raise InputError(
            f"{path.name}: its header claims {claimed:,} bytes of data but the file holds "
            f"{data_bytes:,}; refused before reading"
        )
