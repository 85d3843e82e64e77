"""Per-tensor views and cached statistics: what the CLI and the app ask for when a tensor is selected.

A quantized tensor has two views: ``"int"`` (the stored integers) and ``"float"`` (dequantized).
Statistics are cached on the ``TensorRef`` per (view, bins, device), so returning to a tensor is
instant; the tensor's values themselves are not kept. A big tensor stored raw in a safetensors file
is never held whole: its statistics are computed from chunks read from the file, with the same
results (``layerscope.engine.stats.compute_chunks``).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from layerscope.engine import stats as _stats
from layerscope.engine import tensor_file
from layerscope.engine.model import TensorRef

if TYPE_CHECKING:
    import torch

VIEWS = ("float", "int")
compute_stats = _stats.compute
# From this size on, a tensor stored raw in its file is read in chunks of READ_BYTES: the values
# of a 204.8M-element bf16 embedding alone are 410 MB; a chunked read holds 32 MB. READ_BYTES / 8
# is a multiple of stats' 1M-element reduction step, so wide dtypes' moments are merged over the
# same cuts as for a whole tensor and agree bit for bit.
CHUNKED_MIN_BYTES = 64 << 20
READ_BYTES = 32 << 20


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
    span = _raw_span(ref, device)
    if span is not None:  # the same figures as from the whole tensor, a chunk in memory at a time
        dtype = span.torch_dtype()
        read = partial(tensor_file.read_chunks, span)
        chunk = READ_BYTES // dtype.itemsize
        result = _stats.compute_chunks(read, ref.shape, dtype, bins, chunk_elems=chunk)
        ref.stats_cache[key] = result
        return result
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
    span = _raw_span(ref, device)
    if span is not None:
        read = partial(tensor_file.read_chunks, span)
        chunk = READ_BYTES // span.torch_dtype().itemsize
        return _stats.count_in_range_chunks(read, ref.numel, low, high, chunk_elems=chunk)
    return _stats.count_in_range(tensor_values(ref, view, device), low, high)


def _raw_span(ref: TensorRef, device: str) -> tensor_file.RawSpan | None:
    """Where a big, unquantized tensor's values lie raw in its file, for a CPU chunked read."""
    if device != "cpu" or ref.quant is not None or ref.nbytes < CHUNKED_MIN_BYTES:
        return None
    return tensor_file.safetensors_span(ref)
