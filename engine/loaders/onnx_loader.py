"""ONNX models: float and quantized (QDQ, QOperator, dynamic), initializers or Constant weights.

The protobuf is parsed without external data; external tensors are memory-mapped from their file
when read, and a location that leaves the model's folder is refused before anything is read.

Long because float, QDQ, QOperator and dynamic-quantized graphs each name their quantization
parameters differently, and the tree, the tensor loaders and the checks share one graph walk.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from layerscope.engine.errors import ModelFileError
from layerscope.engine.loaders import onnx_quant as oq
from layerscope.engine.loaders.common import for_stats
from layerscope.engine.model import Model, QuantInfo, TensorRef, TreeBuilder
from layerscope.engine.onnx_graph import GraphIndex, require_text_names
from layerscope.engine.paths import quote, require_regular_file, resolve_inside

# ONNX TensorProto element type → torch dtype name.
TORCH_DTYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16",
    17: "float8_e4m3fn", 18: "float8_e4m3fnuz", 19: "float8_e5m2", 20: "float8_e5m2fnuz",
}  # fmt: skip
_FOLDED = {"QuantizeLinear", "DequantizeLinear", "Constant"}  # shown through their consumers
# Bytes per element of the types read straight from raw bytes (the rest go through numpy_helper).
_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2,
             17: 1, 18: 1, 19: 1, 20: 1}  # fmt: skip


def dtype_name(data_type: int) -> str:
    """Readable element type: torch's name where torch has the type, else ONNX's (``int4``)."""
    if data_type in TORCH_DTYPES:
        return TORCH_DTYPES[data_type]
    from onnx import TensorProto

    try:
        return TensorProto.DataType.Name(data_type).lower()
    except ValueError:
        return f"onnx type {data_type}"


def external_location(t: Any, base: Path) -> tuple[Path, int, int | None]:
    """(file, offset, length) of an external tensor; refuses paths outside ``base``."""
    info = {e.key: e.value for e in t.external_data}
    loc = info.get("location", "")
    target = resolve_inside(base, loc, f"tensor {quote(t.name)} points to external data")
    try:
        length = int(info["length"]) if "length" in info else None
        offset = int(info.get("offset", 0))
    except ValueError:
        raise ModelFileError(
            f"{base}: tensor {quote(t.name)} has a non-numeric external offset or length"
        ) from None
    if offset < 0 or (length is not None and length < 0):
        raise ModelFileError(
            f"{base}: tensor {quote(t.name)} has a negative external data offset or length"
        )
    # Checked at open (a stat, no read), so a missing or short data file is named up front.
    if not os.path.exists(target):  # False for a name too long too, not OSError
        raise ModelFileError(
            f"{base}: tensor {quote(t.name)} needs external data file {quote(loc)}, which is missing"
        )
    size = require_regular_file(target, "external data").st_size  # a FIFO would block reads
    if offset + (length or 0) > size:
        raise ModelFileError(
            f"{target}: truncated external data: tensor {quote(t.name)} needs bytes "
            f"{offset}..{offset + (length or 0)}, the file has {size}"
        )
    return target, offset, length


def _tensor_loader(t: Any, base: Path, source: str = ""):  # noqa: ANN202 - returns a closure
    import torch

    what = f"{source or base}: tensor {t.name!r}"
    dims = tuple(int(d) for d in t.dims)
    numel = 1
    for d in dims:
        numel *= d
    itemsize = _ITEMSIZE.get(t.data_type)
    dtype = getattr(torch, TORCH_DTYPES.get(t.data_type, "float32"))

    def check(nbytes: int) -> None:
        if itemsize is None:
            raise ModelFileError(f"{what}: {dtype_name(t.data_type)} statistics not supported")
        if nbytes != numel * itemsize:
            raise ModelFileError(
                f"{what}: dims {list(dims)} of {dtype_name(t.data_type)} need "
                f"{numel * itemsize} bytes but the data has {nbytes}"
            )

    if t.data_location == 1:  # EXTERNAL
        path, offset, length = external_location(t, base)

        def load_external() -> torch.Tensor:
            if length is None and itemsize is not None:  # no length: as many bytes as dims say
                count = numel * itemsize
            else:
                count = length if length is not None else max(path.stat().st_size - offset, 0)
            check(count)
            if offset + count > path.stat().st_size:
                raise ModelFileError(f"{path}: truncated external data for tensor {t.name!r}")
            mm = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(count,))
            with warnings.catch_warnings():  # read-only mmap: torch warns, we never write to it
                warnings.simplefilter("ignore", UserWarning)
                return for_stats(torch.from_numpy(mm).view(dtype).reshape(dims), what)

        return load_external
    if t.raw_data and itemsize is not None:
        raw = t.raw_data

        def load_raw() -> torch.Tensor:
            check(len(raw))
            return for_stats(torch.frombuffer(bytearray(raw), dtype=dtype).reshape(dims), what)

        return load_raw

    def load_fields() -> torch.Tensor:
        from onnx import numpy_helper

        try:
            arr = numpy_helper.to_array(t)  # also unpacks int4/uint4/float4 nibbles
        except KeyError:
            raise ModelFileError(f"{what}: unknown ONNX element type {t.data_type}") from None
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"{what}: data does not match its dims ({_first(exc)})") from None
        if arr.dtype.kind in "OSU":
            raise ModelFileError(f"{what}: string statistics not supported")
        if arr.dtype.kind == "c":  # a NaN scan works on it; inspect's statistics refuse it
            return torch.from_numpy(np.ascontiguousarray(arr)).reshape(dims)
        if t.data_type in (21, 22):  # uint4/int4: stored values, exactly, in a byte each
            arr = arr.astype(np.uint8 if t.data_type == 21 else np.int8)
            return torch.from_numpy(np.ascontiguousarray(arr)).reshape(dims)
        if (
            arr.dtype.kind not in "biuf"
            or arr.dtype.itemsize != torch.empty((), dtype=dtype).element_size()
        ):
            arr = arr.astype(np.float32)  # exotic types (bf16 in int32 fields, fp4): float32
            return torch.from_numpy(np.ascontiguousarray(arr)).reshape(dims)
        out = torch.from_numpy(np.ascontiguousarray(arr)).view(dtype).reshape(dims)
        return for_stats(out, what)

    return load_fields


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:120]


def _nbytes(t: Any) -> int:
    n = int(np.prod(t.dims)) if len(t.dims) else 1
    bits = {21: 4, 22: 4, 23: 4, 14: 64, 15: 128}.get(
        t.data_type, 8 * _ITEMSIZE.get(t.data_type, 1)
    )
    return (n * bits + 7) // 8


def load_onnx(path: Path, **_: Any) -> Model:
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise ModelFileError(
            f"{path}: corrupt or truncated ONNX file ({type(exc).__name__})"
        ) from None
    if not proto.graph.node and not proto.graph.initializer:
        raise ModelFileError(f"{path}: an ONNX file with an empty graph")
    require_text_names(proto, path)
    return _build(path, proto)


class _Graph:
    """The graph's index (layerscope.engine.onnx_graph), plus what loading adds: weight aliases, safe paths
    and numeric arrays of small tensors."""

    def __init__(self, proto: Any, base: Path, source: str = "") -> None:
        self.source = source or str(base)
        self.index = GraphIndex(proto)
        self.weights: dict[str, Any] = self.index.weights
        self.producer: dict[str, Any] = self.index.producer
        self.consumers: dict[str, list[Any]] = self.index.consumers
        for name, t in self.index.constants.items():  # a Constant's tensor is named by its output
            t.name = t.name or name
        # Exporters route shared weights through Identity nodes: treat their outputs as the weight.
        self.alias: dict[str, str] = {}
        for node in self.index.nodes:
            if node.op_type == "Identity" and node.input and node.input[0] in self.weights:
                self.alias[node.output[0]] = node.input[0]
        for t in self.weights.values():  # refuse unsafe paths before reading anything
            if t.data_location == 1:
                external_location(t, base)

    def array(self, name: str) -> np.ndarray | None:
        from onnx import numpy_helper

        t = self.weights.get(name)
        if t is None or t.data_location == 1:
            return None
        try:
            arr = np.asarray(numpy_helper.to_array(t))
        except KeyError:
            raise ModelFileError(
                f"{self.source}: tensor {name!r}: unknown ONNX element type {t.data_type}"
            ) from None
        except (ValueError, TypeError) as exc:
            raise ModelFileError(
                f"{self.source}: tensor {name!r}: data does not match its dims ({_first(exc)})"
            ) from None
        if arr.dtype.kind not in "biuf":
            if arr.dtype.kind == "V" and t.data_type in (21, 22):  # int4/uint4 zero points
                return arr.astype(np.int8)
            raise ModelFileError(
                f"{self.source}: tensor {name!r} is not numeric ({dtype_name(t.data_type)})"
            )
        return arr


def _quant(
    g: _Graph,
    scale: str | None,
    zp: str | None,
    axis: int | None,
    qtype: int | None,
    scheme: str,
    value: str | None = None,
) -> QuantInfo | None:
    s = g.array(scale) if scale else None
    if s is None:
        return None
    z = g.array(zp) if zp else None
    s = s.reshape(-1).astype(np.float64)
    z = np.zeros(len(s), np.int64) if z is None else z.reshape(-1).astype(np.int64)
    # Lengths that cannot be broadcast would fail deep in dequantization: refuse them by name.
    if len(z) != len(s):
        raise ModelFileError(
            f"{g.source}: zero point {zp!r} has {len(z)} values but scale {scale!r} has {len(s)}"
        )
    dims = g.weights[value].dims if value in g.weights else None
    if len(s) > 1 and dims is not None and (axis is None or len(s) != dims[axis]):
        where = "per-tensor" if axis is None else f"axis {axis} of length {dims[axis]}"
        raise ModelFileError(
            f"{g.source}: scale {scale!r} has {len(s)} values, which does not fit {where} "
            f"of {value!r}"
        )
    qdtype = oq.INT_TYPES.get(qtype or 0)
    if qdtype is None and zp and zp in g.weights:
        qdtype = oq.INT_TYPES.get(g.weights[zp].data_type)
    return QuantInfo(s, z, axis if len(s) > 1 else None, qdtype or "uint8", scheme)


def _attr(node: Any, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def _dynamic_weight_scale(g: _Graph, node: Any) -> str | None:
    """ConvInteger/MatMulInteger → Cast → Mul(·, x_scale × w_scale): return the w_scale initializer."""
    for cast in g.consumers.get(node.output[0], []):
        if cast.op_type != "Cast":
            continue
        for mul in g.consumers.get(cast.output[0], []):
            if mul.op_type != "Mul":
                continue
            for other in mul.input:
                scale_mul = g.producer.get(other)
                if scale_mul is not None and scale_mul.op_type == "Mul":
                    found = [i for i in scale_mul.input if i in g.weights]
                    if found:
                        return found[0]
    return None


def _role(node: Any, idx: int) -> str:
    role = oq.ROLES.get(node.op_type, {}).get(idx)
    if role:
        return role
    try:
        from onnx import defs

        schema = defs.get_schema(node.op_type, domain=node.domain or "")
        if idx < len(schema.inputs):
            return schema.inputs[idx].name
    except Exception:  # noqa: BLE001 - unknown/contrib ops have no schema here
        pass
    return f"input{idx}"


def _build(path: Path, proto: Any) -> Model:
    base = path.parent.resolve()
    g = _Graph(proto, base, str(path))
    act_quant: dict[str, QuantInfo] = {}
    dq_weights: dict[str, tuple[str, QuantInfo | None]] = {}
    absorbed: set[str] = set()  # scale/zero-point tensors shown inside QuantInfo, not on their own
    schemes: set[str] = set()

    for node in g.index.nodes:
        op = node.op_type
        if op in ("DequantizeLinear", "QuantizeLinear"):
            schemes.add("qdq")
            if len(node.input) < 2 or not node.input[1]:  # no scale: shown as stored integers
                if op == "DequantizeLinear" and node.input and node.input[0] in g.weights:
                    dq_weights[node.output[0]] = (node.input[0], None)
                continue
            x, scale = node.input[0], node.input[1]
            zp = node.input[2] if len(node.input) > 2 and node.input[2] else None
            absorbed.update(n for n in (scale, zp) if n)
            qtype = None
            if op == "DequantizeLinear" and x in g.weights:
                qtype = g.weights[x].data_type
                ndim = len(g.weights[x].dims)
                axis = _attr(node, "axis", 1) % max(ndim, 1)
                dq_weights[node.output[0]] = (x, _quant(g, scale, zp, axis, qtype, "qdq", x))
                continue
            q = _quant(g, scale, zp, None, qtype, "qdq")
            if q is not None:
                for name in (x, node.output[0]):
                    act_quant.setdefault(name, q)
        elif op in oq.QOPS:
            schemes.add("dynamic" if op.endswith("Integer") else "qoperator")
            if op.endswith("Integer"):  # its weight scale feeds a Mul that may come earlier
                w_scale = _dynamic_weight_scale(g, node)
                if w_scale:
                    absorbed.add(w_scale)
            out = oq.output_slots(op)
            if out and len(node.input) > out[1]:
                absorbed.update(node.input[i] for i in out)
                q = _quant(g, node.input[out[0]], node.input[out[1]], None, None, "qoperator")
                if q is not None:
                    act_quant[node.output[0]] = q
        elif op == "DynamicQuantizeLinear":
            schemes.add("dynamic")

    builder = TreeBuilder(sep="/")
    attached: set[str] = set()
    quant_of: dict[str, QuantInfo | None] = {}
    for i, node in enumerate(g.index.nodes):
        if node.op_type in _FOLDED or (node.output and node.output[0] in g.alias):
            continue
        name = node.name or f"{node.op_type}_{i}"
        if name in builder.layers:
            name = f"{name}#{i}"
        builder.add_layer(name, node.op_type)
        quant_of.clear()
        trans_b = _attr(node, "transB", 0)
        in_scale: QuantInfo | None = None
        for t in oq.triplets(node.op_type):
            if t.value >= len(node.input):
                continue
            value = node.input[t.value]
            scale = (
                node.input[t.scale] if t.scale is not None and t.scale < len(node.input) else None
            )
            if t.scale is None and value in g.weights:  # dynamic: scale lives after the op
                scale = _dynamic_weight_scale(g, node)
            zp = (
                node.input[t.zero_point]
                if t.zero_point is not None and t.zero_point < len(node.input)
                else None
            )
            absorbed.update(n for n in (scale, zp) if n)
            ndim = len(g.weights[value].dims) if value in g.weights else 0
            scheme = "dynamic" if node.op_type.endswith("Integer") else "qoperator"
            qtype = g.weights[value].data_type if value in g.weights else None
            axis = oq.resolve_axis(t.axis_rule, ndim, trans_b)
            q = _quant(g, scale, zp, axis, qtype, scheme, value)
            if value in g.weights:
                quant_of[value] = q
            elif q is not None:
                act_quant.setdefault(value, q)
            if t.value == 0:
                in_scale = q
        bias_slot = oq.QOP_BIAS.get(node.op_type)
        if bias_slot is not None and bias_slot < len(node.input) and in_scale is not None:
            w_q = quant_of.get(node.input[3]) if len(node.input) > 3 else None
            if w_q is not None:
                s = in_scale.scale[0] * w_q.scale
                quant_of[node.input[bias_slot]] = QuantInfo(
                    s, np.zeros(len(s), np.int64), 0 if len(s) > 1 else None, "int32", "qoperator"
                )
        for idx, inp in enumerate(node.input):
            if not inp:
                continue
            inp = g.alias.get(inp, inp)
            src, q = inp, quant_of.get(inp)
            if inp in dq_weights:
                src, q = dq_weights[inp]
            if (
                src not in g.weights
                or src in attached
                or (src in absorbed and inp not in dq_weights)
            ):
                continue
            attached.add(src)
            t = g.weights[src]
            builder.add_tensor(
                TensorRef(
                    name=src,
                    shape=tuple(int(d) for d in t.dims),
                    dtype=dtype_name(t.data_type),
                    loader=_tensor_loader(t, base, str(path)),
                    role=_role(node, idx),
                    quant=q,
                    source=str(path),
                    nbytes=_nbytes(t),
                ),
                layer=name,
            )
    for src, t in g.weights.items():  # weights no node consumes still belong to the model
        if (
            src not in attached
            and src not in absorbed
            and not g.consumers.get(src)
            and src not in g.alias
        ):
            builder.add_tensor(
                TensorRef(name=src, shape=tuple(int(d) for d in t.dims), dtype=dtype_name(t.data_type),
                          loader=_tensor_loader(t, base, str(path)), role=src, source=str(path), nbytes=_nbytes(t)),
                layer="",
            )  # fmt: skip

    meta: dict[str, Any] = {
        "ir_version": proto.ir_version,
        "opset": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "quant_scheme": "+".join(sorted(schemes)) or None,
        "activation_quant": act_quant,
        "inputs": [_value_info(v) for v in g.index.data_inputs if v.name not in g.weights],
        "outputs": [_value_info(v) for v in proto.graph.output],
    }
    return builder.build(path, "onnx", onnx=proto, metadata=meta)


def _value_info(v: Any) -> dict[str, Any]:
    tt = v.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
    return {
        "name": v.name,
        "shape": dims,
        "dtype": TORCH_DTYPES.get(tt.elem_type, str(tt.elem_type)),
    }
