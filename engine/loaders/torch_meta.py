"""Read a ``torch.save`` zip archive's tensor metadata without touching any tensor bytes.

``torch.load(weights_only=True, mmap=True)`` is safe and lazy, but its unpickler is slow for big
checkpoints. Here a stricter unpickler reads only ``data.pkl``: it knows dicts, tensors and
parameters and nothing else, and turns each tensor into a ``TensorMeta`` (dtype, shape). Any other
object in the pickle makes it give up, and the caller falls back to ``torch.load``; so this path is
never less safe than ``weights_only=True``.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Legacy typed-storage class names, as they appear in pickles, → torch dtype names.
_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
}  # fmt: skip
_ITEMSIZE = {
    "float64": 8,
    "int64": 8,
    "float32": 4,
    "int32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int16": 2,
}


class Unsupported(Exception):
    """The pickle holds something this reader does not model; use ``torch.load`` instead."""


@dataclass(frozen=True)
class TensorMeta:
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n * _ITEMSIZE.get(self.dtype, 1)


@dataclass(frozen=True)
class _Storage:
    dtype: str


def _rebuild_tensor_v2(
    storage: _Storage, offset: int, size: tuple[int, ...], *_: Any
) -> TensorMeta:
    return TensorMeta(storage.dtype, tuple(int(s) for s in size))


def _rebuild_parameter(data: TensorMeta, *_: Any) -> TensorMeta:
    return data


class _MetaUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise Unsupported(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (
            isinstance(pid, tuple)
            and len(pid) >= 2
            and pid[0] == "storage"
            and isinstance(pid[1], str)
        ):
            raise Unsupported("storage")
        return _Storage(pid[1])


def read_metadata(path: Path, data: bytes | None = None) -> Any:
    """The unpickled object of a torch zip archive, tensors replaced by ``TensorMeta``.

    ``data`` is the archive's ``data.pkl`` when the caller has read it already (bounded, checked:
    ``layerscope.engine.loaders.zip_check``).

    Raises:
        Unsupported: anything else is in the pickle (modules, quantized tensors, custom classes).
    """
    try:
        if data is None:
            with zipfile.ZipFile(path) as zf:
                name = next(n for n in zf.namelist() if n.endswith("data.pkl"))
                data = zf.read(name)
        return _MetaUnpickler(io.BytesIO(data)).load()
    except Unsupported:
        raise
    except Exception as exc:  # noqa: BLE001 - any surprise: let torch.load decide and explain
        raise Unsupported(str(exc)) from None
