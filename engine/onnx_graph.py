"""The one index of an ONNX graph that every ONNX reader in the engine looks things up in.

Stored tensors by value name (initializers, and Constant nodes' tensors), the node producing each
value, the nodes consuming it, the nodes in graph order, the graph's outputs and its data inputs.
It reads the protobuf only (no tensor data is decoded) in one pass over the nodes, and changes
nothing in it. Users keep their own extras beside it: the loader's layer names and aliases,
capture's session.
"""

from __future__ import annotations

from typing import Any

from layerscope.engine.errors import ModelFileError


class GraphIndex:
    """Name lookups over one ``onnx.ModelProto``'s graph.

    Attributes:
        nodes: the graph's nodes, in graph (topological) order.
        initializers: initializer name → its ``TensorProto``.
        constants: output name of a ``Constant`` node with a ``value`` tensor → that tensor
            (``value_float`` and the like are attributes, not stored tensors).
        weights: initializers, then constants (a constant wins a name both give).
        producer: value name → the node that outputs it (optional empty outputs left out).
        consumers: value name → the nodes that take it as an input, in graph order.
        outputs: names of the graph's outputs.
        data_inputs: the graph's inputs that are not initializers (what a caller feeds).
    """

    def __init__(self, proto: Any) -> None:
        graph = proto.graph
        self.nodes: list[Any] = list(graph.node)
        self.initializers: dict[str, Any] = {t.name: t for t in graph.initializer}
        self.constants: dict[str, Any] = {}
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = {}
        for node in self.nodes:
            if node.op_type == "Constant" and node.output:
                for attr in node.attribute:
                    if attr.name == "value" and attr.HasField("t"):
                        self.constants[node.output[0]] = attr.t
            for out in node.output:
                if out:
                    self.producer[out] = node
            for inp in node.input:
                if inp:
                    self.consumers.setdefault(inp, []).append(node)
        self.weights: dict[str, Any] = {**self.initializers, **self.constants}
        self.outputs: set[str] = {o.name for o in graph.output}
        self.data_inputs: list[Any] = [i for i in graph.input if i.name not in self.initializers]


def require_text_names(proto: Any, source: object) -> None:
    """Refuse a graph whose names are not UTF-8 text: protobuf hands such a (damaged) name over as
    ``bytes``, which every name lookup downstream would trip on."""
    graph = proto.graph
    names: list[Any] = [v.name for v in (*graph.input, *graph.output, *graph.initializer)]
    names += [v.name for v in graph.value_info]
    for node in graph.node:
        names += [node.name, node.op_type, node.domain, *node.input, *node.output]
        names += [a.name for a in node.attribute]
    if any(not isinstance(n, str) for n in names):
        raise ModelFileError(
            f"{source}: the ONNX graph has names that are not UTF-8 text (a damaged file?)"
        )
