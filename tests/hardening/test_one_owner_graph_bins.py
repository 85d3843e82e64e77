"""One owner each for the ONNX graph index and for integer-view binning (architecture issue 12).

The engine used to index ONNX graphs in four places (loader, capture, quant_compare ops and
activations) and to bin integer views in three (two ``int_bins`` with different return types
and an inline copy in ``inspect``): these tests pin the single owners and what they return.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from layerscope.engine.model import QuantInfo, TensorRef

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def _sources() -> dict[str, str]:
    return {str(p.relative_to(ENGINE)): p.read_text() for p in sorted(ENGINE.rglob("*.py"))}


def _q(qdtype: str) -> QuantInfo:
    return QuantInfo(np.array([0.1]), np.array([0]), None, qdtype, "qdq")


# ---------------------------------------------------------------------------------------------
# Integer binning


def test_one_int_bins_definition_in_engine() -> None:
    owners = [
        rel
        for rel, text in _sources().items()
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef) and node.name == "int_bins"
    ]
    assert owners == ["quant.py"]


def test_no_inline_integer_range_outside_quant() -> None:
    # The integer view's histogram range is qrange widened by half a bin: quant.int_bins says it.
    inline = [
        rel
        for rel, text in _sources().items()
        if rel != "quant.py" and ".qrange" in text and "0.5" in text
    ]
    assert inline == []


def test_int_bins_one_bin_per_integer_up_to_8_bits() -> None:
    from layerscope.engine.quant import int_bins

    assert int_bins(_q("int8"), 64) == (256, (-128.5, 127.5))
    assert int_bins(_q("uint8"), 64) == (256, (-0.5, 255.5))
    assert int_bins(_q("uint4"), 64) == (16, (-0.5, 15.5))
    # Wider types keep the caller's bin count over their whole range.
    assert int_bins(_q("int16"), 64) == (64, (-32768.5, 32767.5))


def test_sink_uses_the_one_int_bins() -> None:
    from layerscope.engine import quant
    from layerscope.engine.capture import sink

    assert sink.int_bins is quant.int_bins


def test_inspect_int_view_bins_keep_the_callers_count() -> None:
    from layerscope.engine.inspect import tensor_stats

    values = torch.tensor([-128, -1, 0, 5, 127], dtype=torch.int8)
    ref = TensorRef("w", (5,), "int8", lambda: values, quant=_q("int8"))
    s = tensor_stats(ref, bins=64, view="int")
    assert len(s.counts) == 64
    assert s.edges[0] == -128.5 and s.edges[-1] == 127.5
    assert sum(s.counts) == 5


# ---------------------------------------------------------------------------------------------
# ONNX graph index

# `for n in x.graph.node`, `enumerate(proto.graph.node)`, `{... for t in g.initializer}`: a walk
# over the protobuf's node or initializer list, which only the index does.
_WALK = re.compile(r"\bin\s+(enumerate\()?[\w.]*\bgraph\.(node|initializer)\b")
_INDEX = "onnx_graph.py"


def test_only_the_graph_index_walks_onnx_graphs() -> None:
    walkers = [
        rel
        for rel, text in _sources().items()
        if _WALK.search(text) and rel != _INDEX and not rel.startswith("demo/")
    ]
    assert walkers == []


def test_the_four_former_indexers_use_the_graph_index() -> None:
    src = _sources()
    for rel in (
        "loaders/onnx_loader.py",
        "capture/onnx_capture.py",
        "quant_compare/ops.py",
        "quant_compare/activations.py",
    ):
        assert "from layerscope.engine.onnx_graph import GraphIndex" in src[rel], rel


def _graph() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((2, 3), np.float32), "w")
    c = numpy_helper.from_array(np.full((2,), 0.5, np.float32), "")
    nodes = [
        helper.make_node("Constant", [], ["b"], value=c, name="const_b"),
        helper.make_node("Constant", [], ["f"], value_float=1.0, name="const_f"),
        helper.make_node("Identity", ["w"], ["w_alias"], name="alias"),
        helper.make_node("Gemm", ["x", "w_alias", "b"], ["y"], name="gemm", transB=1),
        helper.make_node("Relu", ["y"], ["z"], name="relu"),
        helper.make_node("Add", ["z", "y"], ["out"], name="add"),
        helper.make_node("Dropout", ["out"], ["d", ""], name="drop"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3]),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 3]),
        ],
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, [1, 2])],
        [w],
    )
    return helper.make_model(graph)


def test_graph_index_facts() -> None:
    from layerscope.engine.onnx_graph import GraphIndex

    proto = _graph()
    g = GraphIndex(proto)
    assert [n.name for n in g.nodes] == [n.name for n in proto.graph.node]
    assert list(g.initializers) == ["w"]
    # Constant nodes with a tensor value; value_float is not a stored tensor.
    assert list(g.constants) == ["b"]
    assert list(g.weights) == ["w", "b"]
    assert numpy_helper.to_array(g.weights["b"]).tolist() == [0.5, 0.5]
    assert g.producer["y"].name == "gemm" and g.producer["b"].name == "const_b"
    assert "" not in g.producer and "x" not in g.producer
    assert [n.name for n in g.consumers["y"]] == ["relu", "add"]
    assert "" not in g.consumers
    assert g.outputs == {"d"}
    assert [i.name for i in g.data_inputs] == ["x"]
    assert proto.graph.node[0].attribute[0].t.name == ""  # indexing changes nothing
