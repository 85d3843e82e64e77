"""Exact tensor statistics and histograms, computed on the tensor's own device in bounded memory.

Every value counts: min/max/mean/std and the histogram cover all finite elements, NaN and ±Inf
are counted apart, and zeros are counted over all elements. Big tensors are reduced in chunks
(float64 per chunk, merged with Chan's parallel-variance formula), so the extra memory is bounded
by the chunk size, never the tensor size. Histogram binning replicates ``numpy.histogram`` exactly,
so results agree with NumPy bin for bin.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

DEFAULT_BINS = 50
# 4M elements: 32 MB per float64 chunk; a handful of temporaries stay well under 300 MB.
DEFAULT_CHUNK = 1 << 22


@dataclass
class TensorStats:
    """Statistics of one tensor. ``min``/``max``/``mean``/``std`` are ``None`` when no value is finite.

    ``std`` is the population standard deviation (``ddof=0``, as ``numpy.std``). ``counts`` has one
    entry per bin over the finite values; ``edges`` has ``len(counts) + 1`` entries.
    """

    shape: tuple[int, ...]
    dtype: str
    numel: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    zeros: int
    nan: int
    posinf: int
    neginf: int
    counts: list[int] = field(default_factory=list)
    edges: list[float] = field(default_factory=list)

    @property
    def finite(self) -> int:
        return self.numel - self.nan - self.posinf - self.neginf

    @property
    def zero_fraction(self) -> float:
        return self.zeros / self.numel if self.numel else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        d["finite"] = self.finite
        d["zero_fraction"] = self.zero_fraction
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorStats:
        names = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in names}
        kw["shape"] = tuple(kw["shape"])
        return cls(**kw)


def _as_flat_tensor(x: Any) -> torch.Tensor:
    import numpy as np
    import torch

    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if x.is_quantized:  # callers wanting integers pass int_repr(); default is the real values
        x = x.dequantize()
    return x.reshape(-1)


def dtype_name(x: Any) -> str:
    import torch

    if isinstance(x, torch.Tensor):
        return str(x.dtype).removeprefix("torch.")
    return str(getattr(x, "dtype", type(x).__name__))


def compute(
    x: Any,
    bins: int = DEFAULT_BINS,
    *,
    chunk_elems: int = DEFAULT_CHUNK,
    hist_range: tuple[float, float] | None = None,
) -> TensorStats:
    """Statistics and a ``bins``-bin histogram of ``x`` (torch tensor, NumPy array or sequence).

    Args:
        x: the values; any dtype torch knows, on any device. Quantized tensors are dequantized.
        bins: number of histogram bins over the finite values (``[min, max]`` unless ``hist_range``).
        chunk_elems: elements reduced at a time; bounds the extra memory.
        hist_range: fixed histogram range, e.g. the full int8 range for an integer view.
    """
    import torch

    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    shape = tuple(x.shape) if hasattr(x, "shape") else ()
    dtype = dtype_name(x)
    flat = _as_flat_tensor(x)
    n_total = flat.numel()
    exact_int = not (flat.is_floating_point() or flat.is_complex())

    count = 0
    mean = 0.0
    m2 = 0.0
    zeros = nan = posinf = neginf = 0
    lo: float | int | None = None
    hi: float | int | None = None
    for start in range(0, n_total, chunk_elems):
        raw = flat[start : start + chunk_elems]
        zeros += int((raw == 0).sum())
        if raw.dtype == torch.bool:
            raw = raw.to(torch.uint8)
        if exact_int:
            vals = raw  # min/max in the native integer type: exact even beyond 2**53
        else:
            c = raw.to(torch.float64)
            finite_mask = torch.isfinite(c)
            if not bool(finite_mask.all()):
                nan += int(torch.isnan(c).sum())
                posinf += int((c == math.inf).sum())
                neginf += int((c == -math.inf).sum())
                c = c[finite_mask]
            vals = c
        if vals.numel() == 0:
            continue
        cmin, cmax = torch.aminmax(vals)
        cmin_v, cmax_v = cmin.item(), cmax.item()
        lo = cmin_v if lo is None else min(lo, cmin_v)
        hi = cmax_v if hi is None else max(hi, cmax_v)
        c64 = vals.to(torch.float64)
        nb = c64.numel()
        mb = float(c64.mean())
        m2b = float(((c64 - mb) ** 2).sum())
        # Chan et al.: merge (count, mean, M2) of two partitions without loss of precision.
        delta = mb - mean
        tot = count + nb
        mean += delta * nb / tot
        m2 += m2b + delta * delta * count * nb / tot
        count = tot

    if count:
        std = math.sqrt(m2 / count)
        out_mean = mean
    else:
        std = out_mean = None
    counts, edges = _histogram(flat, bins, lo, hi, hist_range, chunk_elems, exact_int)
    return TensorStats(
        shape=shape,
        dtype=dtype,
        numel=n_total,
        min=lo,
        max=hi,
        mean=out_mean,
        std=std,
        zeros=zeros,
        nan=nan,
        posinf=posinf,
        neginf=neginf,
        counts=counts,
        edges=edges,
    )


def histogram_edges(lo: float | None, hi: float | None, bins: int) -> np.ndarray:
    """Bin edges as ``numpy.histogram`` chooses them (constant data widens to ±0.5)."""
    import numpy as np

    if lo is None or hi is None:
        lo, hi = 0.0, 1.0
    lo, hi = float(lo), float(hi)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1, endpoint=True)


def _histogram(
    flat: torch.Tensor,
    bins: int,
    lo: float | None,
    hi: float | None,
    hist_range: tuple[float, float] | None,
    chunk_elems: int,
    exact_int: bool,
) -> tuple[list[int], list[float]]:
    import torch

    if hist_range is not None:
        lo, hi = hist_range
    edges_np = histogram_edges(lo, hi, bins)
    counts = torch.zeros(bins, dtype=torch.int64, device=flat.device)
    if lo is None:
        return [0] * bins, edges_np.tolist()
    edges = torch.from_numpy(edges_np).to(flat.device)
    first, last = float(edges_np[0]), float(edges_np[-1])
    norm = bins / (last - first)
    for start in range(0, flat.numel(), chunk_elems):
        c = flat[start : start + chunk_elems].to(torch.float64)
        keep = (c >= first) & (c <= last)  # also drops NaN; ±Inf fall outside any finite range
        if not bool(keep.all()):
            c = c[keep]
        if c.numel() == 0:
            continue
        # The same steps as numpy.histogram's uniform-bin path, so edge cases land identically.
        idx = ((c - first) * norm).to(torch.int64)
        idx[idx == bins] = bins - 1
        idx -= (c < edges[idx]).to(torch.int64)
        idx += ((c >= edges[idx + 1]) & (idx != bins - 1)).to(torch.int64)
        counts += torch.bincount(idx, minlength=bins)
    return counts.cpu().tolist(), edges_np.tolist()


def count_in_range(x: Any, low: float, high: float, *, chunk_elems: int = DEFAULT_CHUNK) -> int:
    """Number of elements ``v`` with ``low <= v <= high`` (NaN never counts)."""
    import torch

    flat = _as_flat_tensor(x)
    total = 0
    for start in range(0, flat.numel(), chunk_elems):
        c = flat[start : start + chunk_elems]
        if not (c.is_floating_point() or c.is_complex()):
            c = c.to(torch.float64)
        total += int(((c >= low) & (c <= high)).sum())
    return total
