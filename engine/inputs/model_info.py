"""What a model says about its inputs: per-sample shape, input names, ONNX input types and
dynamic dimensions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from layerscope.engine.onnx_graph import GraphIndex

if TYPE_CHECKING:
    from layerscope.engine.model import Model

# A dynamic ONNX dimension past the batch axis (a sequence length) when the user gives no shape.
DEFAULT_DYNAMIC_DIM = 16


def model_input_shape(model: Model | Any) -> tuple[int, ...] | None:
    """The model's per-sample input shape (``(3, 32, 32)``), when the model says it."""
    meta = getattr(model, "metadata", None) or {}
    shape = meta.get("input_shape")
    module = getattr(model, "module", model)
    if shape is None:
        shape = getattr(module, "input_shape", None)
    onnx_proto = getattr(model, "onnx", None)
    if shape is None and onnx_proto is not None:
        shape = _onnx_input_shape(onnx_proto)
    return tuple(int(d) for d in shape) if shape else None


def _onnx_input_shape(proto: Any) -> tuple[int, ...] | None:
    for inp in GraphIndex(proto).data_inputs:
        dims = inp.type.tensor_type.shape.dim
        per_sample = [d.dim_value if d.HasField("dim_value") else 0 for d in dims[1:]]
        return tuple(per_sample) if per_sample and all(per_sample) else None
    return None


def model_input_names(model: Any) -> list[str] | None:
    """The model's input names: the ONNX graph's, or the torch forward's parameters."""
    if model is None:
        return None
    infos = onnx_input_infos(model)
    if infos:
        return [name for name, _, _ in infos]
    ensure = getattr(model, "ensure_module", None)
    module = ensure() if callable(ensure) else getattr(model, "module", model)
    forward = getattr(module, "forward", None)
    if forward is None:
        return None
    import inspect

    try:
        params = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):  # compiled or builtin: no signature to read
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None  # takes any keyword
    return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.KEYWORD_ONLY)] + [
        p.name for p in params if p.kind is p.KEYWORD_ONLY
    ]


def onnx_input_infos(model: Any) -> list[tuple[str, tuple[int, ...], bool]]:
    """(name, per-sample shape with 0 for a dynamic dimension, integer?) of each ONNX input."""
    proto = getattr(model, "onnx", None)
    if proto is None:
        return []
    from onnx import TensorProto

    ints = {TensorProto.INT64, TensorProto.INT32, TensorProto.INT16, TensorProto.INT8,
            TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
            TensorProto.BOOL}  # fmt: skip
    out = []
    for inp in GraphIndex(proto).data_inputs:
        tt = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tt.shape.dim[1:]]
        out.append((inp.name, tuple(dims), tt.elem_type in ints))
    return out


def dynamic_dim_names(model: Any, name: str) -> list[str]:
    """The names of an ONNX input's dynamic dimensions past the batch axis (``seq``)."""
    for inp in GraphIndex(model.onnx).data_inputs:
        if inp.name == name:
            dims = inp.type.tensor_type.shape.dim[1:]
            return [d.dim_param or "?" for d in dims if not d.HasField("dim_value")]
    return []
