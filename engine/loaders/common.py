"""Helpers shared by the loaders: tensor refs from in-memory tensors, kind guessing, quant info."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from layerscope.engine.model import TensorRef, TreeBuilder
from layerscope.engine.quant import torch_dtype_name, torch_quant_info  # their one owner

if TYPE_CHECKING:
    import torch


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
    for layer in builder.layers.values():  # once per layer on open: no set or string per layer
        tensors = layer.tensors
        if layer.kind or not tensors:
            continue
        w = tensors.get("weight")
        dims = len(w.shape) if w is not None else -1
        if "running_mean" in tensors and "running_var" in tensors:
            kind = "~BatchNorm"
        elif dims in (3, 4, 5):
            kind = f"~Conv{dims - 2}d"
        elif dims == 2:
            name = layer.name
            embedding = "embed" in name.lower() or "wte" in name or "wpe" in name
            kind = "~Embedding" if embedding else "~Linear"
        elif dims == 1:
            kind = "~Norm"
        else:
            kind = ""
        layer.kind = kind


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
        from layerscope.engine.errors import ModelFileError

        name = str(t.dtype).removeprefix("torch.")
        raise ModelFileError(f"{what}: {name} statistics not supported")
    return t
