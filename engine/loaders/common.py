"""Helpers shared by the loaders: tensor refs from in-memory tensors, kind guessing, quant info."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from engine.model import QuantInfo, TensorRef, TreeBuilder

if TYPE_CHECKING:
    import torch

_TORCH_QDTYPES = {"qint8": "int8", "quint8": "uint8", "qint32": "int32", "quint4x2": "uint4"}


def torch_dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def torch_quant_info(t: torch.Tensor) -> QuantInfo:
    """Scale/zero point/axis of a PyTorch quantized tensor."""
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


def ref_from_tensor(name: str, t: torch.Tensor, source: str = "", role: str = "") -> TensorRef:
    """A ``TensorRef`` over a tensor already in memory (or memory-mapped by ``torch.load``).

    Quantized tensors load as their integer representation, with ``QuantInfo`` attached.
    """
    if t.is_quantized:
        quant = torch_quant_info(t)
        return TensorRef(
            name=name,
            shape=tuple(t.shape),
            dtype=torch_dtype_name(t),
            loader=lambda t=t: t.int_repr(),
            role=role,
            quant=quant,
            source=source,
            nbytes=t.numel() * t.element_size(),
        )
    return TensorRef(
        name=name,
        shape=tuple(t.shape),
        dtype=torch_dtype_name(t),
        loader=lambda t=t: t.detach(),
        role=role,
        source=source,
        nbytes=t.numel() * t.element_size(),
    )


def guess_kinds(builder: TreeBuilder) -> None:
    """Name the kind of layers that have no module class (state dicts, safetensors) from their tensors.

    The guess is marked with ``~`` so nobody mistakes it for a class name read from the file.
    """
    for layer in builder.layers.values():
        if layer.kind or not layer.tensors:
            continue
        roles = set(layer.tensors)
        w = layer.tensors.get("weight")
        if {"running_mean", "running_var"} <= roles:
            kind = "BatchNorm"
        elif w is None:
            kind = ""
        elif len(w.shape) in (3, 4, 5):
            kind = f"Conv{len(w.shape) - 2}d"
        elif len(w.shape) == 2 and (
            "embed" in layer.name.lower() or "wte" in layer.name or "wpe" in layer.name
        ):
            kind = "Embedding"
        elif len(w.shape) == 2:
            kind = "Linear"
        elif len(w.shape) == 1:
            kind = "Norm"
        else:
            kind = ""
        layer.kind = f"~{kind}" if kind else ""


def add_flat_tensors(
    builder: TreeBuilder, named: Iterable[tuple[str, torch.Tensor]], source: str
) -> None:
    for name, t in named:
        builder.add_tensor(ref_from_tensor(name, t, source))


def for_stats(t: torch.Tensor, what: str) -> torch.Tensor:
    """``t`` in a dtype the statistics can reduce, with the same values; else one-line error.

    uint64 becomes int64 when every value fits (else float64); float8_e8m0 (powers of two) becomes
    float32; packed float4 pairs have no per-value statistics here and are refused by name.
    """
    import torch

    if t.dtype == torch.uint64:
        if t.numel() and int(t.view(torch.int64).lt(0).sum()):  # some value >= 2**63
            return t.to(torch.float64)
        return t.view(torch.int64)
    if t.dtype == getattr(torch, "float8_e8m0fnu", None):
        return t.to(torch.float32)
    if "float4" in str(t.dtype):
        from engine.errors import ModelFileError

        name = str(t.dtype).removeprefix("torch.")
        raise ModelFileError(f"{what}: {name} statistics not supported")
    return t
