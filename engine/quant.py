"""Quantization: dequantization, integer views and health figures of quantized tensors.

A quantized tensor is stored as integers ``q`` with ``QuantInfo`` (scale, zero point, axis);
its real value is ``(q - zero_point) * scale``, per tensor or per channel along ``axis``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.model import QuantInfo

if TYPE_CHECKING:
    import torch


def _broadcast(values: torch.Tensor, params: torch.Tensor, axis: int | None) -> torch.Tensor:
    if axis is None or params.numel() == 1:
        return params.reshape(())
    shape = [1] * values.dim()
    shape[axis % values.dim()] = params.numel()
    return params.reshape(shape)


def dequantize(values: torch.Tensor, q: QuantInfo) -> torch.Tensor:
    """Real values (float32) of integer ``values`` under ``q``, exactly as DequantizeLinear does."""
    import torch

    scale = torch.as_tensor(q.scale, dtype=torch.float32, device=values.device)
    zp = torch.as_tensor(q.zero_point, dtype=torch.int64, device=values.device)
    scale = _broadcast(values, scale, q.axis)
    zp = _broadcast(values, zp, q.axis)
    # Subtract in int32 like ONNX Runtime, then one float32 multiply: bit-identical results.
    return (values.to(torch.int32) - zp.to(torch.int32)).to(torch.float32) * scale


@dataclass
class QuantHealth:
    """How well a quantized tensor uses its integer range.

    Attributes:
        range_used: fraction of the representable integers between the tensor's min and max.
        saturated_low: fraction of values at the lowest representable integer.
        saturated_high: fraction of values at the highest representable integer.
    """

    qmin: int
    qmax: int
    range_used: float
    saturated_low: float
    saturated_high: float


def health(values: torch.Tensor, q: QuantInfo) -> QuantHealth:
    """Range use and saturation of integer ``values`` (the stored integers, not dequantized)."""
    qmin, qmax = q.qrange
    n = values.numel()
    if n == 0:
        return QuantHealth(qmin, qmax, 0.0, 0.0, 0.0)
    v = values.reshape(-1)
    lo, hi = int(v.min()), int(v.max())
    return QuantHealth(
        qmin=qmin,
        qmax=qmax,
        range_used=(hi - lo + 1) / (qmax - qmin + 1),
        saturated_low=int((v == qmin).sum()) / n,
        saturated_high=int((v == qmax).sum()) / n,
    )


def channel_table(values: torch.Tensor, q: QuantInfo) -> list[dict[str, float]]:
    """Per channel: scale, zero point and the real min/max it holds (one row if per-tensor)."""
    real = dequantize(values, q)
    if not q.per_channel or q.axis is None:
        return [
            {
                "channel": 0,
                "scale": float(q.scale[0]),
                "zero_point": int(q.zero_point[0]),
                "min": float(real.min()) if real.numel() else 0.0,
                "max": float(real.max()) if real.numel() else 0.0,
            }
        ]
    per = real.movedim(q.axis % real.dim(), 0).reshape(len(q.scale), -1)
    mins = per.min(dim=1).values.tolist()
    maxs = per.max(dim=1).values.tolist()
    return [
        {
            "channel": i,
            "scale": float(q.scale[i]),
            "zero_point": int(q.zero_point[i]),
            "min": mins[i],
            "max": maxs[i],
        }
        for i in range(len(q.scale))
    ]
