"""The weighted operators of a model (convolutions and linear layers), in graph order.

Both sides of a comparison are reduced to the same list of :class:`Op` records, whatever the
format: an ONNX ``Conv``, a QDQ ``Conv`` fed by ``DequantizeLinear``, a ``QLinearConv``, a dynamic
``ConvInteger`` and a PyTorch ``Conv2d``/``ConvReLU2d`` all become one conv ``Op`` with its weight,
bias, the BatchNorm that follows it (so it can be folded like the exporter folded it) and the
activation that ends its fused group (conv → BN → ReLU → Q/DQ), which is what gets compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from layerscope.engine.model import Model, TensorRef
from layerscope.engine.onnx_graph import GraphIndex

CONV_OPS = {"Conv", "QLinearConv", "ConvInteger", "ConvTranspose"}
LINEAR_OPS = {"Gemm", "QGemm", "MatMul", "QLinearMatMul", "MatMulInteger"}
# Followed after a conv/linear when looking for the end of its fused group.
ACTIVATIONS = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh"}
_TORCH_ACTS = (
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "Hardswish",
    "Hardtanh",
    "Hardsigmoid",
    "Sigmoid",
    "Tanh",
)
# Not GELU/SiLU: exporters decompose them into several ops, which the ONNX side cannot absorb.
# Last segment of an ONNX node name that only repeats the operator type (``/conv1/Conv_quant``).
_OP_SUFFIX = re.compile(r"^(Conv|Gemm|MatMul|ConvTranspose)(_[A-Za-z]+)*(_\d+)?$")
# Renamings quantizers and graph optimisers apply to initializer names.
_NAME_AFFIXES = (
    re.compile(r"^ConvBnFusion_(W|BN_B)_"),
    re.compile(r"(_quantized|_Transposed|_DequantizeLinear_Output)+$"),
)


@dataclass
class BatchNorm:
    """A BatchNorm that follows a conv/linear: its name and the refs of its four tensors."""

    name: str
    gamma: TensorRef
    beta: TensorRef
    mean: TensorRef
    var: TensorRef
    eps: float


@dataclass
class Op:
    """One convolution or linear layer of a model.

    Attributes:
        index: position among the model's conv/linear ops, in graph (execution) order.
        layer: the layer's name in the ``Model`` (ONNX node name, PyTorch module name).
        kind: ``"conv"`` or ``"linear"``.
        op_type: the operator or module type (``QLinearConv``, ``Conv2d``, ``LinearReLU``).
        weight: the weight (integers + quant info for quantized ones).
        bias: the bias, if any.
        transposed: the weight is stored ``[in, out]`` (MatMul, Gemm without ``transB``).
        key: a normalised name for matching across renamings (``layer1.conv1``); ``""`` if none.
        alt_key: a second key taken from the weight's name.
        bn: a following BatchNorm that a converter may have folded into this op.
        output: the tensor (ONNX) or module (PyTorch) whose value ends the fused group.
        fused: names of the nodes/modules absorbed into the group (BN, activation, Q/DQ).
        node: the ONNX node name to exclude from quantization to keep this op in float.
    """

    index: int
    layer: str
    kind: str
    op_type: str
    weight: TensorRef
    bias: TensorRef | None = None
    transposed: bool = False
    key: str = ""
    alt_key: str = ""
    bn: BatchNorm | None = None
    output: str | None = None
    fused: list[str] = field(default_factory=list)
    node: str | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The weight's shape in ``[out, in, ...]`` order, whatever the storage order."""
        s = self.weight.shape
        return (s[1], s[0], *s[2:]) if self.transposed and len(s) == 2 else s


def weight_key(name: str) -> str:
    """``ConvBnFusion_W_layer1.conv1.weight_quantized`` → ``layer1.conv1``."""
    for rx in _NAME_AFFIXES:
        name = rx.sub("", name)
    if name.startswith(("onnx::", "val_", "_v_")) or name[:1].isdigit():
        return ""  # exporter-generated names carry no meaning
    return name.rsplit(".", 1)[0] if "." in name else ""


def node_key(name: str) -> str:
    """``/layer1/conv1/Conv_quant`` → ``layer1.conv1``; names without a path give ``""``."""
    parts = [p for p in name.split("/") if p]
    if len(parts) < 2:
        return ""
    if _OP_SUFFIX.match(parts[-1]):
        parts = parts[:-1]
    return ".".join(parts)


def exclude_name(node_name: str) -> str:
    """The float node's name that a QOperator/dynamic node replaced (``/fc/Gemm_MatMul_quant`` → ``/fc/Gemm``)."""
    return re.sub(r"(_MatMul)?_quant$", "", node_name)


# ---------------------------------------------------------------------------------------------
# ONNX


def onnx_ops(model: Model) -> list[Op]:
    """Conv/linear ops of an ONNX model whose weight is a stored tensor, in graph order."""
    g = GraphIndex(model.onnx)
    by_name = {t.name: t for t in model.tensors()}
    consumers, producer, graph_outputs = g.consumers, g.producer, g.outputs

    def sole(value: str) -> Any:
        if value in graph_outputs:
            return None
        nodes = consumers.get(value, [])
        return nodes[0] if len(nodes) == 1 else None

    def const_ref(value: str) -> TensorRef | None:
        """The stored tensor behind ``value``, through a Reshape/DQ of an initializer."""
        if value in by_name:
            return by_name[value]
        node = producer.get(value)
        if node is not None and node.op_type in ("Reshape", "DequantizeLinear", "Identity"):
            return by_name.get(node.input[0])
        return None

    ops: list[Op] = []
    for i, node in enumerate(g.nodes):
        kind = (
            "conv" if node.op_type in CONV_OPS else "linear" if node.op_type in LINEAR_OPS else ""
        )
        if not kind:
            continue
        layer = _onnx_layer(model, node, i)
        if layer is None or "weight" not in layer.tensors:
            continue  # activation × activation MatMul: nothing stored to compare
        weight = layer.tensors["weight"]
        bias = layer.tensors.get("bias")
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        transposed = kind == "linear" and (node.op_type not in ("Gemm", "QGemm") or not trans_b)
        op = Op(
            index=len(ops), layer=layer.name, kind=kind, op_type=node.op_type, weight=weight,
            bias=bias, transposed=transposed, key=node_key(node.name),
            alt_key=weight_key(weight.name), node=exclude_name(node.name) if node.name else None,
        )  # fmt: skip
        cur = node.output[0]
        if node.op_type.endswith("Integer"):  # int32 result → Cast → Mul(scale) is the real value
            for expected in ("Cast", "Mul"):
                nxt = sole(cur)
                if nxt is None or nxt.op_type != expected:
                    break
                cur = nxt.output[0]
        seen: set[str] = set()  # op types absorbed so far
        while (nxt := sole(cur)) is not None:
            other = [x for x in nxt.input if x != cur]
            early = op.bn is None and not seen & ACTIVATIONS  # a bias comes before BN and ReLU
            if (
                nxt.op_type == "Add" and early and op.bias is None
                and len(other) == 1 and const_ref(other[0])
            ):  # fmt: skip
                op.bias = const_ref(other[0])  # MatMul + Add: the Add holds the bias
            elif nxt.op_type == "BatchNormalization" and op.bn is None:
                op.bn = _onnx_bn(nxt, const_ref)
                if op.bn is None:
                    break
            elif nxt.op_type in ACTIVATIONS or nxt.op_type == "DequantizeLinear":
                pass  # a QOperator output back to float, before a BN it could not fuse
            elif nxt.op_type == "QuantizeLinear":
                dq = [
                    c for c in consumers.get(nxt.output[0], []) if c.op_type == "DequantizeLinear"
                ]
                if not dq:
                    break
                nxt = dq[0]
            else:
                break
            op.fused.append(nxt.name or nxt.op_type)
            seen.add(nxt.op_type)
            cur = nxt.output[0]
        op.output = cur
        ops.append(op)
    return ops


def _onnx_layer(model: Model, node: Any, i: int) -> Any:
    # The loader names layers by node name, or op type + position for nameless nodes.
    name = node.name or f"{node.op_type}_{i}"
    for cand in (name, f"{name}#{i}"):
        layer = model.layers.get(cand)
        if layer is not None and layer.kind == node.op_type:
            return layer
    return None


def _onnx_bn(node: Any, const_ref: Any) -> BatchNorm | None:
    refs = [const_ref(x) for x in node.input[1:5]]
    if len(refs) != 4 or any(r is None for r in refs):
        return None
    eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
    return BatchNorm(node.name or "BatchNormalization", *refs, eps=float(eps))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# PyTorch


def torch_ops(model: Model, example: Any = None) -> list[Op]:
    """Conv/linear modules (float, fused or quantized) in execution order.

    With a runnable, hookable module and an ``example`` batch, one traced forward pass gives the
    execution order and the modules that consume each conv's output (BN, then activation).
    Otherwise (state dicts, TorchScript) definition order stands in for both, which holds for
    the usual ``__init__``-then-``forward`` style and is how ``fuse_modules`` pairs them too.
    """
    layers = [layer for layer in model.layers.values() if layer.name]
    calls = _trace(model, example)
    if calls is not None:
        first = {}
        for i, (name, _, _) in enumerate(calls):
            first.setdefault(name, i)
        layers.sort(key=lambda layer: first.get(layer.name, len(calls)))
    ops: list[Op] = []
    for pos, layer in enumerate(layers):
        kind = _torch_kind(layer)
        if not kind:
            continue
        weight = layer.tensors["weight"]
        op = Op(
            index=len(ops), layer=layer.name, kind=kind, op_type=layer.kind.lstrip("~"),
            weight=weight, bias=layer.tensors.get("bias"), key=layer.name, alt_key=layer.name,
            output=layer.name,
        )  # fmt: skip
        follow = _traced_followers(calls, layer.name) if calls is not None else layers[pos + 1 :]
        out_ch = weight.shape[0]
        for nxt in follow:
            if isinstance(nxt, str):
                nxt = model.layers.get(nxt)
                if nxt is None:
                    break
            if _torch_kind(nxt) or nxt.name.startswith(layer.name + "."):
                break
            k = nxt.kind.lstrip("~")
            if "BatchNorm" in k and op.bn is None and "running_mean" in nxt.tensors:
                if nxt.tensors["running_mean"].shape != (out_ch,):
                    break
                t = nxt.tensors
                op.bn = BatchNorm(nxt.name, t["weight"], t["bias"], t["running_mean"],
                                  t["running_var"], _torch_eps(model, nxt.name))  # fmt: skip
            elif k in _TORCH_ACTS or k in ("Identity", "Dropout"):
                pass  # eager `fuse_modules` leaves Identity where BN and ReLU were
            else:
                break
            op.fused.append(nxt.name)
            op.output = nxt.name
        ops.append(op)
    return ops


def _trace(model: Model, example: Any) -> list[tuple[str, int, int]] | None:
    """(module name, id of its input, id of its output) per leaf-module call, in call order."""
    import torch

    module = model.module
    if example is None or module is None or isinstance(module, torch.jit.ScriptModule):
        return None
    calls: list[tuple[str, int, int]] = []
    keep: list[Any] = []  # hold every tensor seen, so that no id() is reused during the pass
    handles = []

    def hook(name: str):  # noqa: ANN202
        def fn(_mod: Any, inp: Any, out: Any) -> None:
            if inp and isinstance(inp[0], torch.Tensor) and isinstance(out, torch.Tensor):
                keep.extend((inp[0], out))
                calls.append((name, id(inp[0]), id(out)))

        return fn

    try:
        for name, mod in module.named_modules():
            if name and (not any(True for _ in mod.children()) or name in model.layers):
                handles.append(mod.register_forward_hook(hook(name)))
        with torch.no_grad():
            module(torch.as_tensor(example))
    except Exception:  # noqa: BLE001 - a failed trace only loses ordering; run.py reports errors
        return None
    finally:
        for h in handles:
            h.remove()
    return calls


def _traced_followers(calls: list[tuple[str, int, int]], name: str) -> list[str]:
    """The chain of modules each consuming the previous one's output, after ``name``'s first call."""
    idx = next((i for i, c in enumerate(calls) if c[0] == name), None)
    if idx is None:
        return []
    chain, cur = [], calls[idx][2]
    for other, in_id, out_id in calls[idx + 1 :]:
        if in_id == cur and other != name:
            chain.append(other)
            cur = out_id
    return chain


def _torch_kind(layer: Any) -> str:
    w = layer.tensors.get("weight")
    k = layer.kind.lstrip("~")
    if w is None or "BatchNorm" in k or "Norm" in k:
        return ""
    if "Conv" in k and len(w.shape) >= 3:
        return "conv"
    if "Linear" in k and len(w.shape) == 2:
        return "linear"
    return ""


def _torch_eps(model: Model, name: str) -> float:
    module = model.module
    if module is not None:
        try:
            return float(module.get_submodule(name).eps)
        except (AttributeError, RuntimeError):
            pass
    return 1e-5


def model_ops(model: Model, example: Any = None) -> list[Op]:
    """Conv/linear ops of any model: ONNX graphs or PyTorch modules and state dicts.

    ``example`` (one input batch) lets a PyTorch module be traced for its execution order.
    """
    return onnx_ops(model) if model.onnx is not None else torch_ops(model, example)
