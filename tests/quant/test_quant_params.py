"""Quantization parameters read back equal those the quantizer wrote; dequantization equals ORT's."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from layerscope.engine.inspect import tensor_values
from layerscope.engine.loaders import load_model


def _inits(path) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def _quant_refs(model) -> dict[str, object]:
    return {t.name: t for t in model.tensors() if t.quant is not None}


@pytest.mark.parametrize("variant", ["qdq_tensor", "qdq_channel"])
def test_qdq_weight_params_equal_the_quantizers(models, variant: str) -> None:
    path = getattr(models, variant)
    inits = _inits(path)
    refs = _quant_refs(load_model(path))
    dq_nodes = [
        n
        for n in onnx.load(str(path)).graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in inits
    ]
    assert len(dq_nodes) == 6  # three weights, three int32 biases
    for node in dq_nodes:
        ref = refs[node.input[0]]
        scale, zp = inits[node.input[1]].reshape(-1), inits[node.input[2]].reshape(-1)
        np.testing.assert_array_equal(ref.quant.scale, scale.astype(np.float64))
        np.testing.assert_array_equal(ref.quant.zero_point, zp.astype(np.int64))
        assert ref.quant.qdtype == str(inits[node.input[0]].dtype)
        assert ref.quant.scheme == "qdq"
        expected_axis = 0 if variant == "qdq_channel" else None
        assert ref.quant.axis == expected_axis
        assert ref.quant.per_channel == (variant == "qdq_channel")


def test_qdq_activation_params_equal_the_quantizers(models) -> None:
    path = models.qdq_tensor
    inits = _inits(path)
    act = load_model(path).metadata["activation_quant"]
    q_nodes = [n for n in onnx.load(str(path)).graph.node if n.op_type == "QuantizeLinear"]
    assert q_nodes
    for node in q_nodes:
        q = act[node.input[0]]
        assert float(q.scale[0]) == float(inits[node.input[1]])
        assert int(q.zero_point[0]) == int(inits[node.input[2]])
        assert q.qdtype == "int8"


def test_qoperator_uint8_params_equal_the_quantizers(models) -> None:
    path = models.qop_uint8
    inits = _inits(path)
    refs = _quant_refs(load_model(path))
    ops = [n for n in onnx.load(str(path)).graph.node if n.op_type in ("QLinearConv", "QGemm")]
    assert [n.op_type for n in ops] == ["QLinearConv", "QLinearConv", "QGemm"]
    for node in ops:
        w = refs[node.input[3]]
        assert w.quant.scale.tolist() == inits[node.input[4]].reshape(-1).astype(float).tolist()
        assert w.quant.zero_point.tolist() == inits[node.input[5]].reshape(-1).tolist()
        assert (w.quant.qdtype, w.quant.scheme) == ("uint8", "qoperator")
        bias = refs[node.input[8 if node.op_type == "QLinearConv" else 6]]
        # ONNX's rule for the int32 bias: scale = input scale × weight scale, zero point 0.
        expected = np.float32(inits[node.input[1]]) * inits[node.input[4]].reshape(-1)
        np.testing.assert_allclose(bias.quant.scale, expected, rtol=1e-7)
        assert bias.quant.qdtype == "int32"


def test_qoperator_activation_params_equal_the_quantizers(models) -> None:
    path = models.qop_uint8
    inits = _inits(path)
    act = load_model(path).metadata["activation_quant"]
    ops = [n for n in onnx.load(str(path)).graph.node if n.op_type.startswith("QLinear")]
    assert ops
    slots = {"QLinearConv": (6, 7), "QLinearGlobalAveragePool": (3, 4)}  # from the ONNX specs
    assert {n.op_type for n in ops} == set(slots)
    for node in ops:
        out_scale, out_zp = (node.input[i] for i in slots[node.op_type])
        q = act[node.output[0]]
        assert float(q.scale[0]) == float(inits[out_scale])
        assert int(q.zero_point[0]) == int(inits[out_zp])
        assert q.qdtype == "uint8"


def test_dynamic_params_equal_the_quantizers(models) -> None:
    path = models.dynamic
    inits = _inits(path)
    model = load_model(path)
    refs = _quant_refs(model)
    ops = [n for n in onnx.load(str(path)).graph.node if n.op_type.endswith("Integer")]
    assert {n.op_type for n in ops} == {"ConvInteger", "MatMulInteger"}
    for node in ops:
        w = refs[node.input[1]]
        stem = node.input[1].removesuffix("_quantized")
        assert w.quant.scale.tolist() == [float(inits[stem + "_scale"])]
        assert w.quant.zero_point.tolist() == [int(inits[node.input[3]])]
        assert (w.quant.qdtype, w.quant.scheme) == ("uint8", "dynamic")
    # The weight scales are shown inside the weights' quant info, not as tensors of a Mul layer.
    assert not [t.name for t in model.tensors() if t.name.endswith("weight_scale")]


def _ort_dequantize(q: np.ndarray, scale: np.ndarray, zp: np.ndarray, axis: int | None):
    import onnxruntime as ort

    x = numpy_helper.from_array(q, "x")
    s = numpy_helper.from_array(
        scale.astype(np.float32).reshape(-1 if axis is not None else ()), "s"
    )
    z = numpy_helper.from_array(zp.astype(q.dtype).reshape(-1 if axis is not None else ()), "z")
    node = helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"], axis=axis or 0)
    out = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
    graph = helper.make_graph([node], "dq", [], [out], initializer=[x, s, z])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    proto.ir_version = 9
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {})[0]


@pytest.mark.parametrize("variant", ["qdq_tensor", "qdq_channel", "qop_uint8", "dynamic"])
def test_dequantize_equals_onnxruntime_bit_for_bit(models, variant: str) -> None:
    refs = _quant_refs(load_model(getattr(models, variant)))
    assert refs
    for ref in refs.values():
        ints = ref.load().numpy()
        q = ref.quant
        expected = _ort_dequantize(ints, q.scale, q.zero_point, q.axis)
        np.testing.assert_array_equal(tensor_values(ref, "float").numpy(), expected)


def _torch_weights(module) -> dict[str, torch.Tensor]:
    """Quantized weights straight from the torch.ao modules (packed params unpacked by torch)."""
    out = {}
    for name, mod in module.named_modules():
        w = getattr(mod, "weight", None)
        if callable(w):
            w = w()
        if isinstance(w, torch.Tensor) and w.is_quantized:
            out[name] = w
    return out


@pytest.mark.parametrize(("variant", "module"), [("eager_pt", "eager"), ("fx_ts", "fx")])
def test_torch_params_equal_torch_ao(models, variant: str, module: str) -> None:
    model = load_model(getattr(models, variant))  # TorchScript archives
    expected = _torch_weights(getattr(models, module))
    assert len(expected) == 3  # conv1 (+BN+ReLU fused), conv2 (+ReLU), fc
    for name, w in expected.items():
        ref = model.tensor(name, "weight")
        np.testing.assert_array_equal(ref.quant.scale, w.q_per_channel_scales().double().numpy())
        np.testing.assert_array_equal(ref.quant.zero_point, w.q_per_channel_zero_points().numpy())
        assert ref.quant.axis == w.q_per_channel_axis() == 0
        assert ref.quant.qdtype == "int8"
        assert torch.equal(ref.load(), w.int_repr())
        # Dequantization agrees with torch's own.
        assert torch.equal(tensor_values(ref, "float"), w.dequantize())


def test_torch_state_dict_conv_params_equal_torch_ao(models) -> None:
    model = load_model(models.eager_state)
    for name, w in _torch_weights(models.eager).items():
        if "conv" not in name:
            continue  # quantized Linear weights live in packed params a state dict keeps opaque
        ref = model.tensor(name, "weight")
        np.testing.assert_array_equal(ref.quant.scale, w.q_per_channel_scales().double().numpy())
        assert torch.equal(ref.load(), w.int_repr())
