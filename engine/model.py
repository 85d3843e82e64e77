"""The uniform handle every loader returns: Model → Layer → TensorRef.

Nothing here reads tensor bytes. A ``TensorRef`` knows its name, shape, dtype and (for quantized
tensors) its quantization parameters; its values are read from disk only when ``load()`` is called,
and they are not kept afterwards. This is what lets a multi-gigabyte checkpoint open in the time it
takes to read its headers.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerscope.engine.errors import NotFoundError

if TYPE_CHECKING:  # torch is imported lazily so that `import engine` stays cheap
    import numpy as np
    import torch


@dataclass(frozen=True, eq=False)
class QuantInfo:
    """Affine quantization parameters of one tensor: ``real = (q - zero_point) * scale``.

    Attributes:
        scale: one value (per-tensor) or one per channel along ``axis``.
        zero_point: same length as ``scale``.
        axis: channel axis for per-channel quantization, ``None`` for per-tensor.
        qdtype: integer storage type, e.g. ``"int8"``, ``"uint8"``, ``"int32"``.
        scheme: where the parameters came from: ``"qdq"``, ``"qoperator"``, ``"dynamic"``, ``"torch"``.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None
    qdtype: str
    scheme: str

    @property
    def per_channel(self) -> bool:
        return self.axis is not None and len(self.scale) > 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": [float(s) for s in self.scale],
            "zero_point": [int(z) for z in self.zero_point],
            "axis": self.axis,
            "qdtype": self.qdtype,
            "scheme": self.scheme,
        }

    @property
    def qrange(self) -> tuple[int, int]:
        """The representable integer range of ``qdtype``."""
        return QRANGES.get(self.qdtype, (-128, 127))


QRANGES: dict[str, tuple[int, int]] = {
    "int8": (-128, 127),
    "uint8": (0, 255),
    "int16": (-32768, 32767),
    "uint16": (0, 65535),
    "int32": (-(2**31), 2**31 - 1),
    "int4": (-8, 7),
    "uint4": (0, 15),
}


@dataclass(eq=False, slots=True, weakref_slot=True)  # slots: thousands are made per open
class TensorRef:
    """A lazy tensor: metadata now, values on demand.

    Attributes:
        name: unique name in the model (``layer1.0.conv1.weight``, an ONNX initializer name, ...).
        shape: the tensor's shape.
        dtype: storage dtype as a string (``float32``, ``bfloat16``, ``int8``, ``qint8``, ...).
        role: the tensor's part in its layer (``weight``, ``bias``, ``running_mean``, ``w_scale``).
        layer: name of the owning layer.
        quant: quantization parameters when the stored values are integers standing for reals.
        source: the file holding the bytes (a shard, an external-data file, the model file).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    loader: Callable[[], torch.Tensor] = field(repr=False)
    role: str = ""
    layer: str = ""
    quant: QuantInfo | None = None
    source: str = ""
    nbytes: int = 0
    # Per-ref cache of computed statistics, keyed by (view, bins); lives and dies with the Model.
    stats_cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def is_quantized(self) -> bool:
        return self.quant is not None

    def load(self) -> torch.Tensor:
        """Read the stored values (integers for quantized tensors). Not cached: callers drop it."""
        return self.loader()


@dataclass(eq=False, slots=True)
class Layer:
    """One node of the layer tree.

    Attributes:
        name: unique name; ``""`` is the root.
        kind: module class or operator type (``Conv2d``, ``QLinearConv``); ``""`` for a plain group.
        parent: the parent's name, ``None`` for the root.
        children: names of the child layers, in model order.
        tensors: the layer's own tensors by role (``weight``, ``bias``, ...), in model order.
    """

    name: str
    kind: str = ""
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    tensors: dict[str, TensorRef] = field(default_factory=dict)

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1].rsplit("/", 1)[-1] if self.name else "(model)"

    @property
    def param_count(self) -> int:
        """Elements in this layer's own tensors (not its children's)."""
        return sum(t.numel for t in self.tensors.values())


@dataclass(eq=False)
class Model:
    """A loaded model: format, ordered layer tree, lazy tensors, and how to run it.

    Attributes:
        path: the file or folder it was loaded from.
        format: ``torch-module``, ``state-dict``, ``lightning-ckpt``, ``torchscript``, ``onnx``,
            ``safetensors`` or ``safetensors-sharded``.
        layers: every layer by name, root (``""``) first, in model order.
        module: a runnable ``torch.nn.Module`` / ``ScriptModule`` when there is one.
        onnx: the ``onnx.ModelProto`` (without external data) for ONNX models.
        metadata: format-specific facts worth showing (config.json, shard count, quant scheme...).
        module_factory: builds ``module`` on first use (a Hugging Face folder with
            ``transformers`` installed: opening it to look at weights does not load them twice).
    """

    path: Path
    format: str
    layers: dict[str, Layer]
    module: Any = None
    onnx: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    _subtree_params: dict[str, int] | None = field(default=None, repr=False)
    module_factory: Any = field(default=None, repr=False)

    @property
    def runnable(self) -> bool:
        return self.module is not None or self.onnx is not None or bool(self.module_factory)

    def ensure_module(self) -> Any:
        """``module``, built by ``module_factory`` the first time it is needed."""
        if self.module is None and self.module_factory:
            self.module = self.module_factory()
        return self.module

    @property
    def root(self) -> Layer:
        return self.layers[""]

    def tensors(self) -> Iterator[TensorRef]:
        for layer in self.layers.values():
            yield from layer.tensors.values()

    @property
    def param_count(self) -> int:
        return sum(t.numel for t in self.tensors())

    @property
    def size_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors())

    @property
    def is_quantized(self) -> bool:
        return any(t.quant is not None for t in self.tensors())

    def subtree_param_count(self, name: str) -> int:
        """Elements in a layer's tensors and all its descendants' (computed once per model)."""
        if self._subtree_params is None:
            totals: dict[str, int] = {}
            for layer in reversed(list(self.layers.values())):  # children come after parents
                totals[layer.name] = layer.param_count + sum(
                    totals.get(c, 0) for c in layer.children
                )
            self._subtree_params = totals
        return self._subtree_params.get(name, 0)

    def layer(self, name: str) -> Layer:
        """The layer called ``name``; a close-match suggestion when there is none."""
        try:
            return self.layers[name]
        except KeyError:
            raise NotFoundError(_not_found("layer", name, self.layers, self.path)) from None

    def tensor(self, name: str, role: str | None = None) -> TensorRef:
        """A tensor by full name, or by layer name plus role (``tensor("fc", "weight")``)."""
        if role is not None:
            layer = self.layer(name)
            if role not in layer.tensors:
                raise NotFoundError(
                    _not_found(f"tensor of layer {name!r}", role, layer.tensors, self.path)
                )
            return layer.tensors[role]
        by_name = {t.name: t for t in self.tensors()}
        if name in by_name:
            return by_name[name]
        raise NotFoundError(_not_found("tensor", name, by_name, self.path))


def close_names(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``known`` that ``name`` was probably meant to be (typos, partial names)."""
    known = [k for k in known if k]
    close = difflib.get_close_matches(name, known, n=n, cutoff=0.5)
    if not close:  # substring matches help with long dotted names
        close = [k for k in known if name and name in k][:n]
    if not close:  # a typo inside one part of a dotted name: match the last parts too
        tails = {k.rsplit(".", 1)[-1]: k for k in known}
        close = [tails[t] for t in difflib.get_close_matches(name, tails, n=n, cutoff=0.6)]
    return close


def _not_found(what: str, name: str, known: Iterable[str], path: Path) -> str:
    close = close_names(name, known)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"no {what} named {name!r} in {path.name}{hint}"


class TreeBuilder:
    """Builds an ordered layer tree from layer names, creating missing ancestors on the way.

    ``sep`` splits a name into its path: ``.`` for PyTorch names, ``/`` for ONNX node names.
    """

    def __init__(self, sep: str = ".") -> None:
        self.sep = sep
        self.layers: dict[str, Layer] = {"": Layer(name="", kind="Model")}

    def parent_of(self, name: str) -> str:
        return name.rsplit(self.sep, 1)[0] if self.sep in name.strip(self.sep) else ""

    def add_layer(self, name: str, kind: str = "") -> Layer:
        layers = self.layers
        layer = layers.get(name)
        if layer is not None:
            if kind and not layer.kind:
                layer.kind = kind
            return layer
        sep = self.sep  # parent_of, inlined: once per layer of a model with thousands
        parent = name.rsplit(sep, 1)[0] if sep in name.strip(sep) else ""
        parent_layer = layers.get(parent) or self.add_layer(parent)
        layer = Layer(name, kind, parent)
        layers[name] = layer
        parent_layer.children.append(name)
        return layer

    def add_tensor(self, ref: TensorRef, layer: str | None = None) -> TensorRef:
        """Attach ``ref`` to ``layer`` (default: the prefix of its dotted name)."""
        if layer is None:
            layer, _, role = ref.name.rpartition(".")
            ref.role = ref.role or role
        ref.layer = layer
        # Called once per tensor on open: the existing layer is looked up without a call.
        target = self.layers.get(layer) or self.add_layer(layer)
        tensors = target.tensors
        role = ref.role or ref.name
        while role in tensors:  # two tensors with one role: keep both, visibly
            role += "'"
        ref.role = role
        tensors[role] = ref
        return ref

    def add_tensors(self, refs: Iterable[TensorRef]) -> None:
        """``add_tensor`` for each of ``refs`` (each under the prefix of its dotted name).

        The open path of big checkpoints: thousands of refs, so the loop keeps its lookups local.
        """
        layers = self.layers
        add_layer = self.add_layer
        for ref in refs:
            layer, _, role = ref.name.rpartition(".")
            ref.layer = layer
            target = layers.get(layer) or add_layer(layer)
            tensors = target.tensors
            role = ref.role or role or ref.name
            while role in tensors:  # two tensors with one role: keep both, visibly
                role += "'"
            ref.role = role
            tensors[role] = ref

    def build(self, path: Path, fmt: str, **kwargs: Any) -> Model:
        return Model(path=path, format=fmt, layers=self.layers, **kwargs)
