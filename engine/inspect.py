"""Per-tensor views and cached statistics: what the CLI and the app ask for when a tensor is selected.

A quantized tensor has two views: ``"int"`` (the stored integers) and ``"float"`` (dequantized).
Statistics are cached on the ``TensorRef`` per (view, bins, device), so returning to a tensor is
instant; the tensor's values themselves are not kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerscope.engine import stats as _stats
from layerscope.engine.model import TensorRef

if TYPE_CHECKING:
    import torch

VIEWS = ("float", "int")
compute_stats = _stats.compute


def tensor_values(ref: TensorRef, view: str = "float", device: str = "cpu") -> torch.Tensor:
    """The tensor's values on ``device``: integers for ``view="int"`` of a quantized tensor."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    values = ref.load()  # complex values stay complex: statistics are of |z| and say so
    if device != "cpu":
        values = values.to(device)
    if ref.quant is not None and view == "float":
        from layerscope.engine.quant import dequantize

        return dequantize(values, ref.quant)
    return values


def tensor_stats(
    ref: TensorRef, bins: int = _stats.DEFAULT_BINS, view: str = "float", device: str = "cpu"
) -> _stats.TensorStats:
    """Statistics of one view of ``ref``, computed once per (view, bins, device) and cached.

    The integer view of a quantized tensor bins the whole representable range up to 8 bits
    (e.g. -128..127), so the histogram shows how much of it the values use; wider integers (an
    int32 bias) bin their own range.
    """
    if ref.quant is None:
        view = "float"
    key = (view, bins, device)
    cached = ref.stats_cache.get(key)
    if cached is not None:
        return cached
    values = tensor_values(ref, view, device)
    hist_range = None
    if view == "int" and ref.quant is not None:
        from layerscope.engine.quant import int_view_range

        # The integer range up to 8 bits, with the caller's bin count (one integer per bin when
        # they match); an int32 bias's own range.
        hist_range = int_view_range(ref.quant, bins)
    result = _stats.compute(values, bins, hist_range=hist_range)
    if view == "float" and ref.quant is not None:
        result.dtype = f"{ref.dtype}→float32"
    del values  # release the bytes now: big tensors must not pile up
    ref.stats_cache[key] = result
    return result


def count_in_range(
    ref: TensorRef, low: float, high: float, view: str = "float", device: str = "cpu"
) -> int:
    """How many values of the chosen view lie in ``[low, high]``."""
    if ref.quant is None:
        view = "float"
    return _stats.count_in_range(tensor_values(ref, view, device), low, high)
