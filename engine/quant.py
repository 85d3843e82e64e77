"""Quantization: dequantization, integer views and health figures of quantized tensors.

A quantized tensor is stored as integers ``q`` with ``QuantInfo`` (scale, zero point, axis);
its real value is ``(q - zero_point) * scale``, per tensor or per channel along ``axis``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from layerscope.engine.errors import LayerscopeError
from layerscope.engine.model import QuantInfo

if TYPE_CHECKING:
    import torch


class ShapeMismatchError(LayerscopeError):
    """Two tensors that should be compared hold different numbers of values."""

    title = "Shape mismatch"


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
    """Per channel (one row if per-tensor): scale, zero point, the real min/max it holds, the
    fraction of the integer range its values span, and the fraction saturated at either end."""
    real = dequantize(values, q)
    qmin, qmax = q.qrange
    if q.per_channel and q.axis is not None:
        n, axis = len(q.scale), q.axis % max(values.dim(), 1)
        ints = values.movedim(axis, 0).reshape(n, -1)
        per = real.movedim(axis, 0).reshape(n, -1)
    else:
        n, ints, per = 1, values.reshape(1, -1), real.reshape(1, -1)
    if per.shape[1] == 0:  # an empty tensor: parameters only
        zeros = [0.0] * n
        mins = maxs = used = sat = zeros
    else:
        mins, maxs = per.min(dim=1).values.tolist(), per.max(dim=1).values.tolist()
        lo, hi = ints.min(dim=1).values.long(), ints.max(dim=1).values.long()
        used = ((hi - lo + 1).double() / (qmax - qmin + 1)).tolist()
        sat = (((ints == qmin) | (ints == qmax)).sum(dim=1).double() / ints.shape[1]).tolist()
    return [
        {
            "channel": i,
            "scale": float(q.scale[i if n > 1 else 0]),
            "zero_point": int(q.zero_point[i if n > 1 else 0]),
            "min": float(mins[i]),
            "max": float(maxs[i]),
            "range_used": float(used[i]),
            "saturated": float(sat[i]),
        }
        for i in range(n)
    ]


def int_bins(q: QuantInfo, bins: int) -> tuple[int, tuple[float, float]]:
    """Bin count and range of a histogram of ``q``'s stored integers.

    The range is the whole representable range widened by half a bin each side, so that with one
    bin per integer each integer sits at a bin's centre. Types up to 8 bits get one bin per
    integer; wider ones keep ``bins`` (65536 or 2**32 bins would be no histogram).
    """
    lo, hi = q.qrange
    width = hi - lo + 1
    return (width if width <= 256 else bins), (lo - 0.5, hi + 0.5)


def channel_summary(rows: list[dict[str, float]]) -> dict[str, float]:
    """What a per-channel table says in one glance: the spread of scales and zero points, and
    the channel with the most values at the integer range's ends (the one to look at first)."""
    scales = [r["scale"] for r in rows]
    zps = [r["zero_point"] for r in rows]
    worst = max(rows, key=lambda r: r["saturated"])
    return {
        "channels": len(rows),
        "scale_min": min(scales), "scale_max": max(scales),
        "zp_min": min(zps), "zp_max": max(zps),
        "worst_channel": worst["channel"], "worst_saturated": worst["saturated"],
    }  # fmt: skip


def int_view_range(q: QuantInfo, bins: int) -> tuple[float, float] | None:
    """The histogram range of one whole tensor's stored integers: the representable range up to
    8 bits (the plot shows how much of it the values use); ``None`` (their own range) for wider
    types, whose range would squeeze an int32 bias's few values into one bar of ±2.1e9."""
    rng = int_bins(q, bins)[1]
    return rng if rng[1] - rng[0] <= 257 else None  # 256 integers and the half bins


# ---------------------------------------------------------------------------------------------
# PyTorch quantized tensors

_TORCH_QDTYPES = {"qint8": "int8", "quint8": "uint8", "qint32": "int32", "quint4x2": "uint4"}


def torch_dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def torch_quant_info(t: torch.Tensor) -> QuantInfo:
    """Scale/zero point/axis of a PyTorch quantized tensor (a stored weight or a live activation)."""
    import numpy as np
    import torch

    qdtype = _TORCH_QDTYPES.get(torch_dtype_name(t), torch_dtype_name(t))
    if t.qscheme() in (torch.per_channel_affine, torch.per_channel_affine_float_qparams):
        return QuantInfo(
            scale=t.q_per_channel_scales().double().numpy(),
            zero_point=t.q_per_channel_zero_points().long().numpy(),
            axis=int(t.q_per_channel_axis()),
            qdtype=qdtype,
            scheme="torch",
        )
    return QuantInfo(
        scale=np.array([t.q_scale()], dtype=np.float64),
        zero_point=np.array([t.q_zero_point()], dtype=np.int64),
        axis=None,
        qdtype=qdtype,
        scheme="torch",
    )


# ---------------------------------------------------------------------------------------------
# Error figures of an approximation x̂ of x


@dataclass
class ErrorFigures:
    """How close ``x̂`` is to ``x``.

    Attributes:
        sqnr_db: 20·log10(‖x‖/‖x − x̂‖); ``inf`` when identical, ``-inf`` when x is all zeros but x̂ not.
        max_abs_error: max |x − x̂|.
        cosine: cosine similarity; 1.0 for two all-zero tensors, ``None`` when only one is zero.
        exact: ``x̂`` equals ``x`` element for element.
        nonfinite: positions where either side is NaN or ±Inf; the other figures cover the
            rest, and a non-zero count is a finding of its own (never dropped silently).
    """

    sqnr_db: float
    max_abs_error: float
    cosine: float | None
    exact: bool
    nonfinite: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "sqnr_db": _json_float(self.sqnr_db),
            "max_abs_error": self.max_abs_error,
            "cosine": self.cosine,
            "exact": self.exact,
            "nonfinite": self.nonfinite,
        }


def _json_float(v: float) -> float | str:
    """JSON has no infinity: write it as the string ``"inf"`` / ``"-inf"``."""
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def sqnr_db(signal_norm: float, noise_norm: float) -> float:
    """20·log10(signal/noise) with the edge cases spelled out (no noise → inf)."""
    if noise_norm == 0.0:
        return math.inf
    if signal_norm == 0.0:
        return -math.inf
    return 20.0 * math.log10(signal_norm / noise_norm)


def error_figures(x: Any, x_hat: Any) -> ErrorFigures:
    """SQNR, max abs error and cosine similarity of ``x_hat`` against reference ``x``.

    Accepts torch tensors or NumPy arrays of equal element count; sums run in float64 so that
    small errors on big tensors are not lost to rounding.

    Raises:
        ShapeMismatchError: the two hold different numbers of elements.
    """
    import torch

    a = torch.as_tensor(x).detach().reshape(-1).to(torch.float64)
    b = torch.as_tensor(x_hat).detach().reshape(-1).to(device=a.device, dtype=torch.float64)
    if a.numel() != b.numel():
        raise ShapeMismatchError(f"cannot compare tensors of {a.numel()} and {b.numel()} elements")
    finite = torch.isfinite(a) & torch.isfinite(b)
    nonfinite = int(a.numel() - finite.sum())
    if nonfinite:
        a, b = a[finite], b[finite]
    diff = a - b
    signal, noise = float(a.norm()), float(diff.norm())
    nb = float(b.norm())
    if signal == 0.0 and nb == 0.0:
        cosine: float | None = 1.0
    elif signal == 0.0 or nb == 0.0:
        cosine = None
    else:
        cosine = float(torch.dot(a, b)) / (signal * nb)
    return ErrorFigures(
        sqnr_db=sqnr_db(signal, noise),
        max_abs_error=float(diff.abs().max()) if diff.numel() else 0.0,
        cosine=cosine,
        exact=noise == 0.0 and not nonfinite,
        nonfinite=nonfinite,
    )
