"""List a TorchScript archive's layers and tensors without running any of its code.

A TorchScript archive is code: ``torch.jit.load`` compiles the archive's ``code/`` and calls each
object's scripted ``__setstate__``, and ``forward`` runs whatever its author wrote. Without trust
we only read ``<name>/data.pkl`` with a restricted unpickler (the state-dict one of
``torch_meta``, extended): ``__torch__.*`` classes become inert ``ScriptObject`` placeholders
whose ``__setstate__`` merely keeps the saved state, tensors become references to their
``data/<key>`` storage, and any other global stops the listing. Tensor bytes are read on
``load()``, straight from the zip entry, so values are exactly the saved ones.

What cannot be known without running code: the state a custom ``__setstate__`` would build
(torch.ao quantized conv modules have one). Their saved tensors are listed, named ``weight`` and
``bias`` for torch's quantized layers and ``state.N`` otherwise, and the model's metadata says
which layers these are.
"""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from layerscope.engine.errors import ModelFileError, UntrustedCodeError
from layerscope.engine.loaders.torch_meta import _STORAGE_DTYPES, Unsupported, _MetaUnpickler
from layerscope.engine.model import Model, QuantInfo, TensorRef, TreeBuilder

if TYPE_CHECKING:
    import torch

_MAX_PICKLE = 256 << 20  # a data.pkl larger than this is not a model's: refuse, do not read it
_QSTORAGES = {"QInt8Storage": "qint8", "QUInt8Storage": "quint8", "QInt32Storage": "qint32"}
_QDTYPES = {
    "qint8": "int8",
    "quint8": "uint8",
    "qint32": "int32",
}  # as layerscope.engine.loaders.common
_DTYPES = {*_STORAGE_DTYPES.values(), *_QSTORAGES.values()}
_SCHEMES = ("per_tensor_affine", "per_channel_affine", "per_channel_affine_float_qparams")
# torch.jit._pickle helpers that only wrap plain values (type tags of lists and dicts).
_JIT_PICKLE = {
    "restore_type_tag": lambda value, _type: value,
    "build_intlist": list,
    "build_floatlist": list,
    "build_boollist": list,
    "build_doublelist": list,
    "build_tensorlist": list,
}


def trust_message(path: Path) -> str:
    """The one line that says why a TorchScript archive is not loaded or run without trust."""
    return (
        f"{path.name} is TorchScript, and TorchScript is code: loading or running it can do "
        "anything its author wrote; if you trust where it came from, pass --trust "
        "(in the app: confirm)"
    )


def require_trust(model: Model) -> None:
    """Refuse to run a model that was only listed because its code is not trusted."""
    if model.module is None and model.metadata.get("needs_trust"):
        raise UntrustedCodeError(str(model.metadata["needs_trust"]))


class ScriptObject:
    """An inert stand-in for an object of a ``__torch__`` class: it keeps the saved state only."""

    # Class-level defaults: pickle's NEWOBJ makes instances without calling __init__.
    qualname = ""
    attrs: Mapping[str, Any] = MappingProxyType({})
    custom: Any = None  # the argument a scripted __setstate__ would have been given
    has_custom = False

    def __setstate__(self, state: Any) -> None:  # called by pickle's BUILD; runs nothing
        if isinstance(state, dict):
            self.attrs = state
        else:
            self.custom, self.has_custom = state, True

    @property
    def is_layer(self) -> bool:
        """A module: every scripted nn.Module saves ``training``; one with its own __setstate__
        saves what it likes, so count it too (C++ ``torch.classes`` objects are not layers)."""
        if "training" in self.attrs:
            return True
        return self.has_custom and not self.qualname.startswith("__torch__.torch.classes.")


@dataclass(frozen=True)
class _Storage:
    dtype: str
    key: str
    numel: int


@dataclass(eq=False)
class ScriptTensor:
    """A tensor in the archive: where its bytes are and how to view them."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    requires_grad: bool
    quant: tuple[Any, ...] | None = None  # (scheme, scale(s), zero point(s)[, axis])
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dtype(self) -> str:
        return self.storage.dtype


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
    requires_grad: bool = False, *_: Any,
) -> ScriptTensor:  # fmt: skip
    if not isinstance(storage, _Storage) or not isinstance(offset, int) or offset < 0:
        raise Unsupported("tensor")
    return ScriptTensor(storage, int(offset), _ints(size), _ints(stride), bool(requires_grad))


def _rebuild_qtensor(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
    qparams: tuple[Any, ...], requires_grad: bool = False, *_: Any,
) -> ScriptTensor:  # fmt: skip
    if not isinstance(qparams, tuple) or not qparams or qparams[0] not in _SCHEMES:
        raise Unsupported("quantizer")
    if not isinstance(storage, _Storage) or not isinstance(offset, int) or offset < 0:
        raise Unsupported("tensor")
    return ScriptTensor(storage, int(offset), _ints(size), _ints(stride), bool(requires_grad),
                        quant=qparams)  # fmt: skip


def _ints(values: Any) -> tuple[int, ...]:
    if not isinstance(values, tuple | list) or not all(
        isinstance(v, int) and v >= 0 for v in values
    ):
        raise Unsupported("size")
    return tuple(int(v) for v in values)


class _ScriptUnpickler(_MetaUnpickler):
    """``torch_meta``'s strict unpickler, plus ``__torch__`` placeholders and quantized tensors."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self._classes: dict[str, type[ScriptObject]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "__torch__" or module.startswith("__torch__."):
            qualname = f"{module}.{name}"
            if qualname not in self._classes:  # a fresh class per name: never the real one
                self._classes[qualname] = type(name, (ScriptObject,), {"qualname": qualname})
            return self._classes[qualname]
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_qtensor":
            return _rebuild_qtensor
        if module == "torch" and name in _QSTORAGES:
            return _QSTORAGES[name]
        if module == "torch" and name in _SCHEMES:
            return name
        if module == "torch.jit._pickle" and name in _JIT_PICKLE:
            return _JIT_PICKLE[name]
        if (module, name) == ("torch", "device"):
            return str
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> _Storage:
        if not (
            isinstance(pid, tuple)
            and len(pid) >= 5
            and pid[0] == "storage"
            and pid[1] in _DTYPES
            and isinstance(pid[2], str)
            and isinstance(pid[4], int)
            and pid[4] >= 0
        ):
            raise Unsupported("storage")
        return _Storage(pid[1], pid[2], pid[4])


class _Archive:
    """Reads storages from the zip on demand (one open handle, shared by the model's tensors)."""

    def __init__(self, path: Path, prefix: str, big_endian: bool) -> None:
        self.path, self.prefix, self.big_endian = path, prefix, big_endian
        self._lock = threading.Lock()

    def tensor(self, t: ScriptTensor) -> torch.Tensor:
        """The saved values (stored integers for quantized tensors), as a new tensor."""
        import torch

        dtype = getattr(torch, _QDTYPES.get(t.dtype, t.dtype))
        expected = t.storage.numel * dtype.itemsize
        try:
            with self._lock, zipfile.ZipFile(self.path) as zf:
                info = zf.getinfo(f"{self.prefix}data/{t.storage.key}")
                if info.file_size != expected:
                    raise ValueError("storage size")
                data = bytearray(zf.read(info))
            flat = torch.frombuffer(data, dtype=dtype) if expected else torch.empty(0, dtype=dtype)
            if self.big_endian and dtype.itemsize > 1:
                flat = flat.view(torch.uint8).view(-1, dtype.itemsize).flip(1).reshape(-1)
                flat = flat.view(dtype)
            return torch.as_strided(flat, t.shape, t.stride, t.offset).clone()
        except (KeyError, ValueError, RuntimeError, OSError, zipfile.BadZipFile):
            raise ModelFileError(
                f"{self.path}: a tensor's bytes are missing or do not fit its shape; "
                "the TorchScript archive is corrupt or was replaced"
            ) from None


def load_torchscript_listing(path: Path) -> Model:
    """The archive's layer tree and lazy tensors; no code from it is loaded or run.

    Raises:
        UntrustedCodeError: the pickle holds objects that only its code could rebuild.
        ModelFileError: the archive is corrupt.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            info = next(i for i in zf.infolist() if i.filename.endswith("data.pkl"))
            if info.file_size > _MAX_PICKLE:
                raise ValueError("data.pkl too large")
            prefix = info.filename.removesuffix("data.pkl")
            order = zf.read(prefix + "byteorder") if prefix + "byteorder" in zf.NameToInfo else b""
            root = _ScriptUnpickler(io.BytesIO(zf.read(info))).load()
    except Unsupported:
        raise UntrustedCodeError(
            f"{trust_message(path)}; its tensors cannot even be listed without running it"
        ) from None
    except Exception:  # noqa: BLE001 - corrupt zip or pickle; its bytes are not echoed
        raise ModelFileError(
            f"{path}: corrupt or unreadable TorchScript archive (its pickle cannot be read)"
        ) from None
    if not isinstance(root, ScriptObject):
        raise ModelFileError(f"{path}: a TorchScript archive without a scripted module in it")
    archive = _Archive(path, prefix, order.strip() == b"big")
    builder = TreeBuilder()
    coded: list[str] = []
    try:
        _walk(root, "", builder, archive, str(path), coded)
    except RecursionError:
        raise ModelFileError(f"{path}: TorchScript modules nested too deeply to list") from None
    meta: dict[str, Any] = {"needs_trust": trust_message(path)}
    if coded:
        meta["restored_by_code"] = coded
        meta["note"] = (
            f"{len(coded)} layer(s) restore their state with the archive's own code "
            "(__setstate__, e.g. packed quantized conv/linear): their tensors are listed as saved; "
            "what the loaded model holds, and running it, needs --trust"
        )
    return builder.build(path, "torchscript", metadata=meta)


def _walk(
    obj: ScriptObject, name: str, builder: TreeBuilder, archive: _Archive, source: str,
    coded: list[str],
) -> None:  # fmt: skip
    layer = builder.add_layer(name, type(obj).__name__) if name else builder.layers[""]
    if not name:
        layer.kind = type(obj).__name__
    found: list[tuple[str, ScriptTensor]] = []
    packed: list[tuple[str, ScriptTensor]] = []  # listed last, as model_from_module does
    if obj.has_custom:
        coded.append(name or "(model)")
        packed += _custom_tensors(obj)
    for key, value in obj.attrs.items():
        if isinstance(value, ScriptObject) and value.is_layer:
            child = f"{name}.{key}" if name else key
            _walk(value, child, builder, archive, source, coded)
            if key == "_packed_params":  # quantized Linear: the weights belong to the Linear
                packed += _packed(value)
        elif isinstance(value, ScriptObject) and key == "_packed_params":
            if type(obj).__name__ != "LinearPackedParams":  # else its Linear lists them
                packed += _packed(value)
        else:
            found += [(f"{key}{sub}", t) for sub, t in _tensors_in(value)]
    prefix = f"{name}." if name else ""
    # Parameters (saved with requires_grad) first, then buffers: named_parameters + named_buffers.
    for role, t in sorted(found, key=lambda rt: not rt[1].requires_grad) + packed:
        builder.add_tensor(_ref(prefix + role, role, t, archive, source), layer=name)


def _packed(obj: ScriptObject) -> list[tuple[str, ScriptTensor]]:
    """Weight and bias of packed quantized params (``LinearPackedParams`` or its C++ base)."""
    inner = obj.attrs.get("_packed_params", obj)
    state = inner.custom if isinstance(inner, ScriptObject) and inner.has_custom else None
    tensors = [t for _, t in _tensors_in(state)]
    return list(zip(("weight", "bias"), tensors, strict=False))


def _custom_tensors(obj: ScriptObject) -> list[tuple[str, ScriptTensor]]:
    tensors = [t for _, t in _tensors_in(obj.custom)]
    if ".quantized." in obj.qualname and tensors:  # torch.ao's quantized conv: (…, w, b, …)
        return list(zip(("weight", "bias"), tensors, strict=False))
    return [(f"state.{i}", t) for i, t in enumerate(tensors)]


def _tensors_in(value: Any, depth: int = 0) -> list[tuple[str, ScriptTensor]]:
    """Tensors inside plain containers, with the suffix that names each (``""``, ``.0``, ``.k``)."""
    if isinstance(value, ScriptTensor):
        return [("", value)]
    if depth > 8:
        return []
    items: Any = ()
    if isinstance(value, tuple | list):
        items = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    out = []
    for k, v in items:
        out += [(f".{k}{sub}", t) for sub, t in _tensors_in(v, depth + 1)]
    return out


def _ref(name: str, role: str, t: ScriptTensor, archive: _Archive, source: str) -> TensorRef:
    import torch

    numel = 1
    for d in t.shape:
        numel *= d
    itemsize = getattr(torch, _QDTYPES.get(t.dtype, t.dtype)).itemsize
    return TensorRef(
        name=name, shape=t.shape, dtype=t.dtype, loader=partial(archive.tensor, t), role=role,
        quant=_quant_info(t, archive) if t.quant else None, source=source, nbytes=numel * itemsize,
    )  # fmt: skip


def _quant_info(t: ScriptTensor, archive: _Archive) -> QuantInfo:
    """Scale/zero point/axis, as ``layerscope.engine.loaders.common.torch_quant_info`` gives them."""
    import numpy as np

    assert t.quant is not None
    scheme, qdtype = t.quant[0], _QDTYPES[t.dtype]
    if scheme == "per_tensor_affine" and len(t.quant) >= 3:
        scale = np.array([float(t.quant[1])], dtype=np.float64)
        zero = np.array([int(t.quant[2])], dtype=np.int64)
        return QuantInfo(scale=scale, zero_point=zero, axis=None, qdtype=qdtype, scheme="torch")
    if len(t.quant) >= 4 and all(isinstance(q, ScriptTensor) for q in t.quant[1:3]):
        scales = archive.tensor(t.quant[1]).double().numpy()
        zeros = archive.tensor(t.quant[2]).long().numpy()
        return QuantInfo(scale=scales, zero_point=zeros, axis=int(t.quant[3]), qdtype=qdtype,
                         scheme="torch")  # fmt: skip
    raise ModelFileError(f"{archive.path}: a quantized tensor with unreadable parameters")
