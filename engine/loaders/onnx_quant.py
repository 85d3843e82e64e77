"""Where ONNX graphs keep quantization parameters, identified per operator type.

- QDQ: ``DequantizeLinear(x_int, scale, zero_point, axis)`` fed by an initializer is a quantized
  weight; ``QuantizeLinear`` on an activation gives that activation's scale and zero point.
- QOperator (``QLinearConv``, ``QLinearMatMul``, ``QGemm``, ``QLinearAdd``, ...): fixed input slots
  hold each (value, scale, zero point) triplet and the output's scale/zero point.
- Dynamic (``ConvInteger``, ``MatMulInteger``): the weight's zero point is an input; its scale is
  the constant multiplied in after the integer op (found by walking Cast → Mul).
"""

from __future__ import annotations

from dataclasses import dataclass

# op type → ((value slot, scale slot, zero-point slot, per-channel axis rule), ...), output (scale, zp)
# Axis rules: an int, -1 for the value's last axis, "transB" for Gemm's B, None for per-tensor only.
QOPS: dict[
    str, tuple[tuple[tuple[int, int | None, int | None, object], ...], tuple[int, int] | None]
] = {
    "QLinearConv": (((0, 1, 2, None), (3, 4, 5, 0)), (6, 7)),
    "QLinearMatMul": (((0, 1, 2, None), (3, 4, 5, -1)), (6, 7)),
    "QGemm": (((0, 1, 2, None), (3, 4, 5, "transB")), (7, 8)),
    "QLinearAdd": (((0, 1, 2, None), (3, 4, 5, None)), (6, 7)),
    "QLinearMul": (((0, 1, 2, None), (3, 4, 5, None)), (6, 7)),
    "QLinearSigmoid": (((0, 1, 2, None),), (3, 4)),
    "QLinearLeakyRelu": (((0, 1, 2, None),), (3, 4)),
    "QLinearGlobalAveragePool": (((0, 1, 2, None),), (3, 4)),
    "QLinearAveragePool": (((0, 1, 2, None),), (3, 4)),
    "QLinearSoftmax": (((0, 1, 2, None),), (3, 4)),
    "ConvInteger": (((0, None, 2, None), (1, None, 3, 0)), None),
    "MatMulInteger": (((0, None, 2, None), (1, None, 3, -1)), None),
}
# Bias slots whose int32 values use scale = input scale × weight scale and zero point 0.
QOP_BIAS = {"QLinearConv": 8, "QGemm": 6}

# Readable role names for the slots of common operators; other slots use the schema's input name.
ROLES: dict[str, dict[int, str]] = {
    "Conv": {1: "weight", 2: "bias"},
    "ConvTranspose": {1: "weight", 2: "bias"},
    "Gemm": {1: "weight", 2: "bias"},
    "MatMul": {1: "weight"},
    "BatchNormalization": {1: "weight", 2: "bias", 3: "running_mean", 4: "running_var"},
    "LayerNormalization": {1: "weight", 2: "bias"},
    "InstanceNormalization": {1: "weight", 2: "bias"},
    "Gather": {0: "weight"},
    "QLinearConv": {0: "x", 3: "weight", 8: "bias"},
    "QLinearMatMul": {0: "a", 3: "weight"},
    "QGemm": {0: "a", 3: "weight", 6: "bias"},
    "ConvInteger": {0: "x", 1: "weight"},
    "MatMulInteger": {0: "a", 1: "weight"},
}
# ONNX TensorProto element types of the integer storage of quantized values.
INT_TYPES = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 21: "uint4", 22: "int4"}


@dataclass
class Triplet:
    """One quantized operand of an operator: value slot with its scale/zero-point slots."""

    value: int
    scale: int | None
    zero_point: int | None
    axis_rule: object


def triplets(op_type: str) -> list[Triplet]:
    spec = QOPS.get(op_type)
    return [Triplet(*t) for t in spec[0]] if spec else []


def output_slots(op_type: str) -> tuple[int, int] | None:
    spec = QOPS.get(op_type)
    return spec[1] if spec else None


def resolve_axis(rule: object, ndim: int, trans_b: int) -> int | None:
    if rule is None:
        return None
    if rule == "transB":
        return 0 if trans_b else 1
    assert isinstance(rule, int)
    return rule % ndim if ndim else None
