"""Where a drop below the threshold starts.

Errors accumulate: once one layer's activation is coarse, every layer after it reads coarse
values and is flagged too. A flagged layer or activation is an **origin** when its own weights
are below the threshold, or when every compared activation feeding it is still above: that is
where quantization began to hurt. Upstream comes from the float ONNX graph when there is one,
else from execution order (the previous compared layer).
"""

from __future__ import annotations

from typing import Any

from layerscope.engine.model import Model
from layerscope.engine.onnx_graph import GraphIndex
from layerscope.engine.quant_compare.result import Comparison


def mark_origins(result: Comparison, fm: Model) -> None:
    """Set ``origin`` on the flagged layers and activations where a drop starts."""
    threshold = result.threshold_db
    acts: dict[str, Any] = {}  # float activation name → the comparison holding it
    for layer in result.layers:
        if layer.activation is not None:
            acts[layer.activation.float_name] = layer
    for a in result.activations:
        acts[a.float_name] = a
    sqnr = {name: _act(c).sqnr_db for name, c in acts.items()}
    upstream = _onnx_upstream(fm, set(acts)) if fm.onnx is not None else _order_upstream(result)
    for layer in result.layers:
        if not layer.flagged:
            continue
        weight_bad = layer.weight is not None and layer.weight.sqnr_db < threshold
        ups = upstream.get(layer.activation.float_name, []) if layer.activation else []
        layer.origin = weight_bad or all(sqnr[u] >= threshold for u in ups)
    for a in result.activations:
        if a.flagged:
            a.origin = all(sqnr[u] >= threshold for u in upstream.get(a.float_name, []))


def _act(c: Any) -> Any:
    return c.activation if hasattr(c, "activation") else c


def _onnx_upstream(fm: Model, compared: set[str]) -> dict[str, list[str]]:
    """For each compared value, the nearest compared values it is computed from."""
    graph = GraphIndex(fm.onnx)
    consts, producer = graph.initializers, graph.producer
    out: dict[str, list[str]] = {}
    for name in compared:
        node = producer.get(name)
        stack = list(node.input) if node is not None else []
        seen: set[str] = set()
        found: list[str] = []
        while stack:
            x = stack.pop()
            if not x or x in seen or x in consts:
                continue
            seen.add(x)
            if x in compared:
                found.append(x)
            elif x in producer:
                stack.extend(producer[x].input)
        out[name] = found
    return out


def _order_upstream(result: Comparison) -> dict[str, list[str]]:
    """Without a graph: each layer's upstream is the previous compared layer it runs after."""
    layers = sorted(
        (c for c in result.layers if c.activation is not None),
        key=lambda c: c.float_op.index if c.float_op is not None else c.index,
    )
    out: dict[str, list[str]] = {}
    for prev, cur in zip([None, *layers], layers, strict=False):
        out[cur.activation.float_name] = [prev.activation.float_name] if prev else []
    return out
