"""ONNX capture: every intermediate value becomes a graph output of one cached ORT session.

The session is built once per model (graph optimisations off, so each node's own output is what
is reported) and reused. Integer values of quantized models get their scale and zero point from the
node that defines them (QuantizeLinear, QLinear* outputs, DequantizeLinear inputs), from
initializers, Constant nodes, or values computed in the same run (DynamicQuantizeLinear).
"""

from __future__ import annotations

import tempfile
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from layerscope.engine.capture.result import CaptureCancelled
from layerscope.engine.capture.sink import PASS_FULL, PASS_HIST, PASS_MOMENTS, Sink
from layerscope.engine.errors import InputError, ModelFileError, first_line
from layerscope.engine.model import QuantInfo
from layerscope.engine.onnx_graph import GraphIndex, require_text_names

# op type → (index of scale input, index of zero-point input) describing the node's output.
_OUT_QPARAMS = {
    "QuantizeLinear": (1, 2),
    "QLinearConv": (6, 7),
    "QLinearMatMul": (6, 7),
    "QLinearAdd": (6, 7),
    "QLinearMul": (6, 7),
    "QLinearAveragePool": (3, 4),
    "QLinearGlobalAveragePool": (3, 4),
    "QLinearLeakyRelu": (3, 4),
    "QLinearSigmoid": (3, 4),
    "QLinearSoftmax": (3, 4),
    "QLinearConcat": (0, 1),
}
# Integer ops whose output keeps the input's quantization (same scale and zero point).
_PASSTHROUGH = {"MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity",
                "Slice", "Gather", "Pad", "Resize", "Split", "DepthToSpace", "SpaceToDepth"}  # fmt: skip
_NOT_DATA = {"Shape", "Size"}
_INT_DTYPES = {"int8", "uint8", "int16", "uint16", "int32", "int4", "uint4"}
# Every captured value is a session output that ONNX Runtime keeps until the run ends, so memory
# grows with the graph (200k nodes took 1.2 GB and 42 s): larger graphs are refused up front.
MAX_CAPTURE_VALUES = 20_000


@dataclass(eq=False)
class OnnxGraph:
    """A session exposing every value, and what is known about each value."""

    session: Any
    input_name: str
    input_type: str
    input_shape: list[Any]
    # Every data input: (name, ORT type, shape); the first is ``input_name``.
    inputs: list[tuple[str, str, list[Any]]] = field(default_factory=list)
    # Captured value → (layer, op) of the node computing it; the graph's index is not kept, as
    # its nodes would hold the whole protobuf (weights included) for as long as the session.
    layer_op: dict[str, tuple[str, str]] = field(default_factory=dict)
    qparams: dict[str, tuple[str, str | None, int | None]] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)


# Sessions live as long as their Model (weak keys); models given by path keep the last two, keyed
# by the file's identity so that a rewritten file gets a new session.
_CACHE: weakref.WeakKeyDictionary[Any, dict[str, OnnxGraph]] = weakref.WeakKeyDictionary()
_BY_PATH: OrderedDict[tuple[str, int, int, str], OnnxGraph] = OrderedDict()
_LOCK = threading.Lock()


def graph_for(key: Any, path: Path, device: str = "cpu") -> OnnxGraph:
    """The cached session for ``key`` (a ``Model``, or ``None`` for a bare path) on ``device``."""
    with _LOCK:
        if key is not None:
            per_device = _CACHE.setdefault(key, {})
            if device not in per_device:
                per_device[device] = _build(path, device)
            return per_device[device]
        st = path.stat()
        pkey = (str(path.resolve()), st.st_size, st.st_mtime_ns, device)
        if pkey not in _BY_PATH:
            _BY_PATH[pkey] = _build(path, device)
            while len(_BY_PATH) > 2:
                _BY_PATH.popitem(last=False)
        _BY_PATH.move_to_end(pkey)
        return _BY_PATH[pkey]


def _build(path: Path, device: str) -> OnnxGraph:
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    try:
        proto = onnx.load(str(path))  # with external data: it lives beside the file
    except Exception as exc:
        raise ModelFileError(f"cannot read ONNX model {path}: {first_line(exc)[:120]}") from None
    require_text_names(proto, path)
    graph = proto.graph
    index = GraphIndex(proto)
    inputs = index.data_inputs
    if not inputs:
        raise InputError(f"{path.name} takes no inputs: there is nothing to feed")
    g = OnnxGraph(None, inputs[0].name, "", [])
    g.consts = {name: _const(path, t) for name, t in index.initializers.items() if _small(t)}
    for name, t in index.constants.items():
        try:
            g.consts[name] = numpy_helper.to_array(t)
        except Exception:  # noqa: BLE001 - a Constant that does not decode is no quant param
            pass
    have = index.outputs
    # Values that depend on the input's data; weights dequantized by DQ nodes and shape
    # arithmetic are constants or metadata, not activations.
    data = {i.name for i in inputs}
    for i, node in enumerate(index.nodes):
        layer = node.name or f"{node.op_type}_{i}"
        _note_qparams(g, node)
        if node.op_type in _NOT_DATA or not any(n in data for n in node.input):
            continue
        data.update(node.output)
        for out in node.output:
            if out and out not in g.layer_op:
                g.layer_op[out] = (layer, node.op_type)
                g.order.append(out)
    if len(g.order) > MAX_CAPTURE_VALUES:
        raise InputError(
            f"{path.name} has {len(g.order)} intermediate values; capture records at most "
            f"{MAX_CAPTURE_VALUES}: extract the part you need with onnx.utils.extract_model"
            "(model, part, input_names, output_names) and capture that"
        )
    graph.output.extend(onnx.ValueInfoProto(name=out) for out in g.order if out not in have)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    # Idle intra-op threads sleep instead of spinning: spinning bought nothing measurable here
    # and burnt ~0.1 s of CPU per quant-compare on a 2-core machine shared with other work.
    # Values are the same either way.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        if proto.ByteSize() < 1_900_000_000:
            g.session = ort.InferenceSession(proto.SerializeToString(), opts, providers=providers)
        else:  # protobuf's 2 GB limit: go through a file with external data
            with tempfile.TemporaryDirectory() as tmp:
                f = Path(tmp) / "capture.onnx"
                onnx.save(proto, str(f), save_as_external_data=True, location="capture.data")
                g.session = ort.InferenceSession(str(f), opts, providers=providers)
    except Exception as exc:
        raise ModelFileError(f"ONNX Runtime cannot run {path.name}: {first_line(exc)}") from None
    g.inputs = [(i.name, i.type, list(i.shape)) for i in g.session.get_inputs()]
    _, g.input_type, g.input_shape = g.inputs[0]
    return g


def _const(path: Path, t: Any) -> np.ndarray | None:
    """An initializer's values, or ``None`` when they are not numbers (then not a quant param)."""
    from onnx import numpy_helper

    try:
        arr = numpy_helper.to_array(t)
    except KeyError:
        raise ModelFileError(
            f"{path}: initializer {t.name!r} has an unknown ONNX element type {t.data_type}"
        ) from None
    except (ValueError, TypeError) as exc:
        raise ModelFileError(
            f"{path}: initializer {t.name!r} does not match its dims ({first_line(exc)[:120]})"
        ) from None
    return arr if arr.dtype.kind in "biuf" else None


def _small(t: Any) -> bool:
    n = 1
    for d in t.dims:
        n *= d
    return n <= 4096  # scales and zero points are small; weights need not be held here


def _note_qparams(g: OnnxGraph, node: Any) -> None:
    def axis() -> int | None:
        for a in node.attribute:
            if a.name == "axis":
                return int(a.i)
        return None

    ins = list(node.input)
    if node.op_type in _OUT_QPARAMS and node.output:
        si, zi = _OUT_QPARAMS[node.op_type]
        if len(ins) > si and ins[si]:
            zp = ins[zi] if len(ins) > zi and ins[zi] else None
            g.qparams.setdefault(node.output[0], (ins[si], zp, axis()))
    if node.op_type in ("DequantizeLinear", "QLinearConv", "QLinearMatMul") and len(ins) > 1:
        zp = ins[2] if len(ins) > 2 and ins[2] else None
        g.qparams.setdefault(
            ins[0], (ins[1], zp, axis() if node.op_type == "DequantizeLinear" else None)
        )
    if node.op_type == "DynamicQuantizeLinear" and len(node.output) == 3:
        g.qparams.setdefault(node.output[0], (node.output[1], node.output[2], None))
    if node.op_type in _PASSTHROUGH and ins and ins[0] in g.qparams and node.output:
        g.qparams.setdefault(node.output[0], g.qparams[ins[0]])


def quant_info(
    g: OnnxGraph, name: str, values: dict[str, np.ndarray], qdtype: str
) -> QuantInfo | None:
    """Scale/zero point of integer value ``name``, when the graph says what they are."""
    spec = g.qparams.get(name)
    if spec is None:
        return None
    s_name, z_name, axis = spec
    scale = values.get(s_name, g.consts.get(s_name))
    if scale is None:
        return None
    zp = values.get(z_name, g.consts.get(z_name)) if z_name else None
    scale = np.asarray(scale, dtype=np.float32).reshape(-1)
    zp = (
        np.zeros(scale.shape, np.int64)
        if zp is None
        else np.asarray(zp).astype(np.int64).reshape(-1)
    )
    per_axis = axis if scale.size > 1 else None
    if scale.size > 1 and per_axis is None:
        per_axis = 1  # the ONNX default axis
    scheme = "dynamic" if g.layer_op.get(s_name, ("", ""))[1] == "DynamicQuantizeLinear" else "qdq"
    if g.layer_op.get(name, ("", ""))[1].startswith("QLinear"):
        scheme = "qoperator"
    return QuantInfo(scale, zp, per_axis, qdtype, scheme)


def split_for(g: OnnxGraph, batches: list[Any]) -> list[Any]:
    """Re-split batches when the model's batch axis is fixed (exported models often say 1)."""
    fixed = g.input_shape[0] if g.input_shape and isinstance(g.input_shape[0], int) else None
    if fixed is None or all(_rows(b) == fixed for b in batches):
        return batches
    import torch

    total = sum(_rows(b) for b in batches)
    if total % fixed:
        raise InputError(
            f"the model's batch size is fixed at {fixed}; give a multiple of {fixed} samples"
        )
    if isinstance(batches[0], dict):
        cols = {k: torch.cat([b[k] for b in batches]).split(fixed) for k in batches[0]}
        return [{k: c[i] for k, c in cols.items()} for i in range(total // fixed)]
    if isinstance(batches[0], tuple):
        tcols = [torch.cat([b[j] for b in batches]).split(fixed) for j in range(len(batches[0]))]
        return [tuple(c[i] for c in tcols) for i in range(total // fixed)]
    return list(torch.cat(batches).split(fixed))


def _rows(batch: Any) -> int:
    if isinstance(batch, dict):
        batch = next(iter(batch.values()))
    elif isinstance(batch, tuple):
        batch = batch[0]
    return int(batch.shape[0]) if batch.dim() else 1


_NP_TYPES = {"tensor(float16)": np.float16, "tensor(double)": np.float64,
             "tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
             "tensor(int16)": np.int16, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
             "tensor(bool)": np.bool_}  # fmt: skip


def _feed(g: OnnxGraph, batch: Any) -> dict[str, np.ndarray]:
    """The session's feed: each input by name, in its own element type."""
    names = [name for name, _, _ in g.inputs]
    if isinstance(batch, dict):
        missing = [n for n in names if n not in batch]
        extra = [n for n in batch if n not in names]
        if missing or extra:
            raise InputError(
                f"the model's inputs are {', '.join(names)}; "
                + (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(extra)}")
                + " (give name=SPEC for each)"
            )
        items = [(n, batch[n]) for n in names]
    elif isinstance(batch, tuple):
        if len(batch) != len(names):
            raise InputError(f"the model takes {len(names)} inputs ({', '.join(names)})")
        items = list(zip(names, batch, strict=True))
    else:
        if len(names) != 1:
            raise InputError(
                f"the model takes {len(names)} inputs ({', '.join(names)}): give one per input, "
                "--input NAME=SPEC (or an .npz holding an array per input name)"
            )
        items = [(names[0], batch)]
    types = {name: t for name, t, _ in g.inputs}
    return {
        n: t.detach().cpu().numpy().astype(_NP_TYPES.get(types[n], np.float32), copy=False)
        for n, t in items
    }


def capture_onnx(
    g: OnnxGraph, batches: list[Any], sink: Sink, cancel: threading.Event | None = None
) -> dict[str, str]:
    """Run ``batches`` through the session, feeding every value to ``sink``; per-value errors."""
    import torch

    errors: dict[str, str] = {}
    out_names = [o.name for o in g.session.get_outputs()]
    passes = [PASS_FULL] if len(batches) == 1 else [PASS_MOMENTS, PASS_HIST]
    for phase in passes:
        for batch in batches:
            if cancel is not None and cancel.is_set():
                raise CaptureCancelled("capture cancelled")
            sink.start_batch(phase)
            feed = _feed(g, batch)
            try:
                results = g.session.run(out_names, feed)
            except Exception as exc:
                shapes = ", ".join(f"{k} {v.shape}" for k, v in feed.items())
                raise InputError(
                    f"ONNX Runtime failed on input {shapes}: {first_line(exc)}"
                ) from None
            values = dict(zip(out_names, results, strict=True))
            for name in g.order:
                arr = values.get(name)
                if arr is None or not isinstance(arr, np.ndarray):
                    continue
                layer, op = g.layer_op[name]
                try:
                    qdtype = str(arr.dtype)
                    q = quant_info(g, name, values, qdtype) if qdtype in _INT_DTYPES else None
                    t = torch.from_numpy(np.ascontiguousarray(arr))
                    sink.add(name, layer, op, t, q, owned=True)  # ORT's array: no copy needed
                except Exception as exc:  # one value's failure must not stop the others
                    errors[name] = f"{type(exc).__name__}: {first_line(exc)}"
            del values, results
    return errors
