"""Tensor metadata of a ``torch.save`` zip archive, read without touching any tensor bytes.

``torch.load(weights_only=True, mmap=True)`` is safe and lazy, but its unpickler is slow for big
checkpoints. ``layerscope.engine.loaders.zip_check`` walks ``data.pkl`` once, for its checks and
for this: where the pickle holds only dicts, ``OrderedDict``, plain values, tensors and parameters,
each tensor becomes a ``TensorMeta`` (dtype, shape). Anything else makes the loader fall back to
``torch.load``; so this path is never less safe than ``weights_only=True``.

``_MetaUnpickler`` is the strict unpickler of the same rules that the TorchScript listing
(``torchscript_meta``) builds on.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from dataclasses import dataclass
from math import prod
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


class TensorMeta:
    """A tensor's dtype and shape as the pickle gives them (a plain slotted class: one per tensor,
    made during the walk of ``data.pkl``, so it is kept cheap to build)."""

    __slots__ = ("dtype", "shape")

    def __init__(self, dtype: str, shape: tuple[int, ...]) -> None:
        self.dtype = dtype
        self.shape = shape

    def __repr__(self) -> str:
        return f"TensorMeta({self.dtype!r}, {self.shape!r})"

    @property
    def nbytes(self) -> int:
        return prod(self.shape) * _ITEMSIZE.get(self.dtype, 1)


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
