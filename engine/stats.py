"""Exact tensor statistics and histograms, computed on the tensor's own device in bounded memory.

Every value counts: min/max/mean/std and the histogram cover all finite elements, NaN and ±Inf
are counted apart, and zeros are counted over all elements. Histogram binning replicates
``numpy.histogram`` exactly, so results agree with NumPy bin for bin. Two routes, same answers:

* 1- and 2-byte dtypes (bf16, fp16, fp8, int8/16, bool) count how often each bit pattern occurs in
  one pass; every statistic and the histogram then come from that ≤ 65,536-entry table.
* wider dtypes are reduced in chunks (float64 moments merged with Chan's formula, min/max in the
  native dtype), then binned in a second pass: in float32 against exact float32 thresholds for
  float32 data, in float64 otherwise.

Either way the extra memory is bounded by the chunk size, never the tensor size. ``compute_chunks``
runs the same two routes over values read piece by piece (a big tensor in its file), with the same
results, so the tensor itself need not be in memory either.

Long because each dtype family needs its own exact route (integer moments, bit-pattern tables for
1-2-byte floats, scaled float64 moments, NumPy-identical binning) and they share the helpers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

DEFAULT_BINS = 50
# 4M elements: 32 MB per float64 chunk; a handful of temporaries stay well under 300 MB.
DEFAULT_CHUNK = 1 << 22
# On CPU, chunks that fit in L2/L3 run several times faster than DEFAULT_CHUNK and bound memory
# further; chunk_elems is an upper bound, so using less is always allowed.
_CPU_CHUNK = 1 << 20


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
    # What the numbers are of, when not plainly the values: "statistics of complex tensors:
    # magnitude |z|", or why there are none (packed fp4, meta and sparse tensors).
    note: str | None = None

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
        """From :meth:`to_dict`'s fields (JSON readers restore "inf"/"nan" first: layerscope.engine.io)."""
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
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if chunk_elems < 1:
        raise ValueError(f"chunk_elems must be at least 1, got {chunk_elems}")
    shape = tuple(x.shape) if hasattr(x, "shape") else ()
    dtype = dtype_name(x)
    missing = _no_values(x)
    if missing is not None:
        return TensorStats(
            shape=shape, dtype=dtype, numel=math.prod(shape), min=None, max=None, mean=None,
            std=None, zeros=0, nan=0, posinf=0, neginf=0, counts=[0] * bins,
            edges=histogram_edges(None, None, bins).tolist(), note=missing,
        )  # fmt: skip
    flat = _as_flat_tensor(x)
    note = None
    if flat.is_complex():  # no order on complex numbers: min/max/histogram of |z| mean something
        flat, note = flat.abs(), COMPLEX_NOTE
    if flat.dtype in _table_dtypes():
        out = _compute_by_table(flat, shape, dtype, bins, chunk_elems, hist_range)
    else:
        out = _compute_chunked(flat, shape, dtype, bins, chunk_elems, hist_range)
    out.note = note
    return out


COMPLEX_NOTE = "statistics of complex tensors: magnitude |z|"

ChunkReader = Callable[[int, int, int], Iterable["torch.Tensor"]]
"""``read(start, stop, n)``: elements ``[start, stop)`` of a flattened tensor in order, as 1-D CPU
tensors of ``n`` elements (the last may be shorter). A chunk may be overwritten once the next one
is asked for; several reads of disjoint ranges may run at once, each in its own thread."""


def compute_chunks(
    read: ChunkReader,
    shape: tuple[int, ...],
    dtype: torch.dtype,
    bins: int = DEFAULT_BINS,
    *,
    chunk_elems: int = DEFAULT_CHUNK,
    hist_range: tuple[float, float] | None = None,
) -> TensorStats:
    """:func:`compute` of a real CPU tensor that is read piece by piece instead of held whole.

    The result equals ``compute(x, bins, chunk_elems=chunk_elems, hist_range=hist_range)`` bit for
    bit, and at most ``chunk_elems`` values are asked for at a time (all threads together). 1-2-byte
    dtypes add up each piece's bit-pattern counts (one read, split among torch's threads); wider
    dtypes are read twice (moments, then the histogram) in whole multiples of the reduction step,
    so the moments merge over the same cuts as in :func:`compute`.
    """
    import numpy as np
    import torch

    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if chunk_elems < 1:
        raise ValueError(f"chunk_elems must be at least 1, got {chunk_elems}")
    if dtype.is_complex:
        raise ValueError("compute_chunks takes real dtypes; complex statistics are of |z|")
    numel = math.prod(shape)
    name = str(dtype).removeprefix("torch.")
    if dtype in _table_dtypes():
        # As _pattern_counts splits a whole tensor: 16-bit patterns in up to torch's thread count.
        threads = 1
        if dtype.itemsize == 2:
            threads = max(1, min(torch.get_num_threads(), 16, numel // _PER_THREAD))
        per_thread = max(1, chunk_elems // threads)

        def count(lo: int, hi: int) -> np.ndarray:
            table = np.zeros(1 << (8 * dtype.itemsize), dtype=np.int64)
            for piece in read(lo, hi, per_thread):
                table += _pattern_counts(piece, chunk_elems)
            return table

        if threads == 1:
            table = count(0, numel)
        else:
            from concurrent.futures import ThreadPoolExecutor

            cuts = [numel * i // threads for i in range(threads + 1)]
            with ThreadPoolExecutor(threads, thread_name_prefix="layerscope-stats") as pool:
                table = sum(pool.map(count, cuts[:-1], cuts[1:]))
        return _stats_from_table(table, dtype, numel, shape, name, bins, hist_range)

    step = max(1, min(chunk_elems, _CPU_CHUNK))  # _step's choice for a CPU tensor
    per_read = chunk_elems // step * step

    def pieces() -> Iterator[torch.Tensor]:
        for chunk in read(0, numel, per_read):
            yield from (chunk[start : start + step] for start in range(0, chunk.numel(), step))

    return _reduce_pieces(pieces, dtype, torch.device("cpu"), shape, name, bins, hist_range)


def count_in_range_chunks(
    read: ChunkReader, numel: int, low: float, high: float, *, chunk_elems: int = DEFAULT_CHUNK
) -> int:
    """:func:`count_in_range` of a real tensor read piece by piece (see :data:`ChunkReader`)."""
    return sum(count_in_range(c, low, high, chunk_elems=chunk_elems)
               for c in read(0, numel, chunk_elems))  # fmt: skip


def _no_values(x: Any) -> str | None:
    """Why ``x`` has no values to compute statistics of, or ``None`` when it has."""
    import torch

    if not isinstance(x, torch.Tensor):
        return None
    if x.is_meta:
        return "meta tensor: shape and dtype only, no values"
    if x.layout != torch.strided:
        return f"{str(x.layout).removeprefix('torch.')} tensor: statistics not computed"
    if x.dtype not in _table_dtypes() and x.element_size() == 1 and "float4" in str(x.dtype):
        return f"{dtype_name(x)}: packed 4-bit values, statistics not supported"
    return None


def _compute_chunked(
    flat: torch.Tensor,
    shape: tuple[int, ...],
    dtype: str,
    bins: int,
    chunk_elems: int,
    hist_range: tuple[float, float] | None,
) -> TensorStats:
    """Wide types (32/64-bit): one reducing pass in chunks, then a histogram pass."""
    step = _step(flat, chunk_elems)

    def pieces() -> Iterator[torch.Tensor]:
        return (flat[start : start + step] for start in range(0, flat.numel(), step))

    return _reduce_pieces(pieces, flat.dtype, flat.device, shape, dtype, bins, hist_range)


def _reduce_pieces(
    pieces: Callable[[], Iterable[torch.Tensor]],
    tdtype: torch.dtype,
    device: torch.device,
    shape: tuple[int, ...],
    dtype: str,
    bins: int,
    hist_range: tuple[float, float] | None,
) -> TensorStats:
    """The wide-type statistics of the values ``pieces()`` yields in order (called twice).

    The moments depend on where the pieces are cut (Chan's merge rounds per piece), so callers
    that must agree bit for bit cut at the same multiples of ``_step``.
    """
    import torch

    if tdtype == torch.uint32:  # torch has no aminmax for uint32; int64 holds it exactly
        tdtype, pieces = torch.int64, functools.partial(_as_int64, pieces)
    n_total = 0
    is_float = tdtype.is_floating_point
    acc = _Moments(exact=tdtype in (torch.int64, torch.uint64))
    zeros = nan = posinf = neginf = 0
    lo: float | int | None = None
    hi: float | int | None = None
    for vals in pieces():
        n_total += vals.numel()
        zeros += _zeros(vals)
        cmin_v, cmax_v = _aminmax(vals)  # native dtype: exact, also for int64 beyond 2**53
        # aminmax propagates NaN and shows ±Inf, so a finite result proves a finite chunk: the
        # mask and its copy are paid only by chunks that hold NaN/Inf.
        if is_float and not (math.isfinite(cmin_v) and math.isfinite(cmax_v)):
            nan += int(torch.isnan(vals).sum())
            posinf += int((vals == math.inf).sum())
            neginf += int((vals == -math.inf).sum())
            vals = vals[torch.isfinite(vals)]
            if vals.numel() == 0:
                continue
            cmin_v, cmax_v = _aminmax(vals)
        lo = cmin_v if lo is None else min(lo, cmin_v)
        hi = cmax_v if hi is None else max(hi, cmax_v)
        acc.add(vals, cmin_v, cmax_v)

    mean, std = acc.result()
    all_in = hist_range is None and nan + posinf + neginf == 0  # every value inside [min, max]
    counts, edges = _histogram(pieces(), tdtype, device, bins, lo, hi, hist_range, all_in)
    return TensorStats(
        shape=shape, dtype=dtype, numel=n_total, min=lo, max=hi,
        mean=mean, std=std, zeros=zeros, nan=nan, posinf=posinf,
        neginf=neginf, counts=counts, edges=edges,
    )  # fmt: skip


def _as_int64(pieces: Callable[[], Iterable[torch.Tensor]]) -> Iterator[torch.Tensor]:
    import torch

    return (p.to(torch.int64) for p in pieces())


class _Moments:
    """Chan et al.'s mergeable (count, mean, M2) over chunks, exact where float64 is not enough.

    Floats: chunks whose magnitude passes 2**500 (or stays below 2**-500) are scaled by a power of
    two first (exact), so squares neither overflow to inf nor underflow to 0; the scale only grows.
    int64/uint64 (``exact``): sums are Python ints (two 32-bit halves summed in int64), so the
    mean is exact beyond 2**53 and each chunk is centred exactly before squaring in float64.
    """

    def __init__(self, exact: bool) -> None:
        self.exact = exact
        self.count = 0
        self.mean = 0.0  # in units of 2**exp
        self.m2 = 0.0  # in units of 4**exp
        self.exp = 0
        self.total = 0  # exact: the sum of all values

    def add(self, vals: torch.Tensor, cmin: float | int, cmax: float | int) -> None:
        nb = vals.numel()
        if self.exact:
            s_b, m2b = _int_chunk_moments(vals, int(cmin))
            if self.count:  # the means' difference is exact (Fractions) until this rounding
                delta = float(Fraction(s_b, nb) - Fraction(self.total, self.count))
                m2b += delta * delta * self.count * nb / (self.count + nb)
            self.m2 += m2b
            self.total += s_b
            self.count += nb
            return
        import torch

        amax = max(abs(float(cmin)), abs(float(cmax)))
        e = math.frexp(amax)[1] if amax > 2.0**500 or 0 < amax < 2.0**-500 else 0
        if self.count == 0:
            self.exp = e
        elif e > self.exp:  # rescale what is merged so far (powers of two: exact)
            self.mean = math.ldexp(self.mean, self.exp - e)
            self.m2 = math.ldexp(self.m2, 2 * (self.exp - e))
            self.exp = e
        c64 = vals.to(torch.float64, copy=True)  # a copy: centred in place below
        if self.exp:
            half = -self.exp // 2
            c64.mul_(2.0**half).mul_(2.0 ** (-self.exp - half))
        mb = float(c64.sum()) / nb
        c64 -= mb
        m2b = float(torch.dot(c64, c64))
        del c64
        # Chan et al.: merge (count, mean, M2) of two partitions without loss of precision.
        delta = mb - self.mean
        tot = self.count + nb
        self.mean += delta * nb / tot
        self.m2 += m2b + delta * delta * self.count * nb / tot
        self.count = tot

    def result(self) -> tuple[float | None, float | None]:
        if not self.count:
            return None, None
        if self.exact:
            return float(Fraction(self.total, self.count)), math.sqrt(self.m2 / self.count)
        std = math.sqrt(self.m2 / self.count)
        return math.ldexp(self.mean, self.exp), math.ldexp(std, self.exp)


def _int_chunk_moments(vals: torch.Tensor, base: int) -> tuple[int, float]:
    """Exact sum of an int64/uint64 chunk, and its M2 with the chunk centred exactly."""
    import numpy as np
    import torch

    if vals.dtype == torch.uint64:
        arr = vals.cpu().numpy()
        hi = torch.from_numpy((arr >> np.uint64(32)).astype(np.int64))
        lo = torch.from_numpy((arr & np.uint64(0xFFFFFFFF)).astype(np.int64))
    else:
        hi, lo = vals >> 32, vals & 0xFFFFFFFF  # vals = hi * 2**32 + lo, |hi| < 2**32
    n = vals.numel()
    total = int(hi.sum()) * (1 << 32) + int(lo.sum())  # each half sums to < 2**53 per chunk
    # x - mean = (hi - hi0) * 2**32 + (lo - lo0) - (mean - base): exact until the last rounding.
    hi0, lo0 = base >> 32, base & 0xFFFFFFFF
    d = (hi - hi0).to(torch.float64).mul_(2.0**32).add_((lo - lo0).to(torch.float64))
    d -= float(Fraction(total, n) - base)
    return total, float(torch.dot(d, d))


def _zeros(vals: torch.Tensor) -> int:
    import torch

    if vals.dtype == torch.uint64:  # no count_nonzero kernel for uint64
        return int((vals == 0).sum())
    return vals.numel() - int(torch.count_nonzero(vals))


def _step(flat: torch.Tensor, chunk_elems: int) -> int:
    """Chunk actually used: ``chunk_elems``, but cache-sized on CPU, where that is much faster."""
    if flat.device.type == "cpu":
        return max(1, min(chunk_elems, _CPU_CHUNK))
    return max(1, chunk_elems)


def _aminmax(vals: torch.Tensor) -> tuple[float | int, float | int]:
    import torch

    if vals.dtype == torch.uint64:  # no torch kernel; NumPy has one (CPU only, like uint64 itself)
        arr = vals.cpu().numpy()
        return int(arr.min()), int(arr.max())
    cmin, cmax = torch.aminmax(vals)
    return cmin.item(), cmax.item()


def histogram_edges(lo: float | None, hi: float | None, bins: int) -> np.ndarray:
    """Bin edges as ``numpy.histogram`` chooses them (constant data widens to ±0.5)."""
    import numpy as np

    if lo is None or hi is None:
        lo, hi = 0.0, 1.0
    lo, hi = float(lo), float(hi)
    if lo == hi:
        if lo - 0.5 < lo < hi + 0.5:
            lo, hi = lo - 0.5, hi + 0.5
        else:  # |v| >= 2**53: ±0.5 vanishes (NumPy refuses); widen by bins ulps instead
            pad = math.ulp(lo) * bins
            lo, hi = lo - pad, hi + pad
    if not math.isfinite(hi - lo):  # the span overflows: halve, space evenly, double (exact)
        return np.linspace(lo / 2, hi / 2, bins + 1, endpoint=True) * 2
    return np.linspace(lo, hi, bins + 1, endpoint=True)


def _histogram(
    pieces: Iterable[torch.Tensor],
    tdtype: torch.dtype,
    device: torch.device,
    bins: int,
    lo: float | None,
    hi: float | None,
    hist_range: tuple[float, float] | None,
    all_in: bool = False,
) -> tuple[list[int], list[float]]:
    import torch

    if hist_range is not None:
        lo, hi = hist_range
    edges_np = histogram_edges(lo, hi, bins)
    if lo is None:
        return [0] * bins, edges_np.tolist()
    counts = torch.zeros(bins, dtype=torch.int64, device=device)
    edges = torch.from_numpy(edges_np).to(device)
    thresholds = _float32_thresholds(edges_np) if tdtype == torch.float32 else None
    if thresholds is not None:
        thresholds = thresholds.to(device)
    for chunk in pieces:
        if thresholds is not None:
            idx = _bin_index_f32(chunk, thresholds, all_in)
        else:
            idx = _bin_index(chunk.to(torch.float64), edges)
        if idx.numel():
            counts += torch.bincount(idx, minlength=bins)
    return counts.cpu().tolist(), edges_np.tolist()


def _float32_thresholds(edges: np.ndarray) -> torch.Tensor | None:
    """For float32 data: the smallest float32 at or above each float64 edge, or None if unsafe.

    A float32 ``x`` satisfies ``x >= edge`` exactly when ``x >= threshold``, so binning against the
    thresholds in float32 equals NumPy's float64 binning, without a float64 copy of the data.
    """
    import numpy as np
    import torch

    first, last = float(edges[0]), float(edges[-1])
    with np.errstate(over="ignore"):
        t = edges.astype(np.float32)
    # The float32 estimate below must land within one bin of the truth: the range must be
    # finite in float32, its ends exact, and bins few enough for float32 rounding to stay tiny.
    exact_ends = float(t[0]) == first and float(t[-1]) == last  # compared in float64
    if not (np.isfinite(t).all() and exact_ends and len(edges) <= 1 << 16):
        return None
    if not 1e-30 <= last - first <= 3e38:  # x - first and its scaling stay normal float32
        return None
    t = np.where(t.astype(np.float64) < edges, np.nextafter(t, np.float32(np.inf)), t)
    return torch.from_numpy(t.astype(np.float32))


def _bin_index_f32(x: torch.Tensor, thresholds: torch.Tensor, all_in: bool) -> torch.Tensor:
    """NumPy's bin of each float32 value in ``[thresholds[0], thresholds[-1]]`` (others dropped)."""
    import torch

    bins = thresholds.numel() - 1
    first, last = thresholds[0].item(), thresholds[-1].item()
    if not all_in:
        keep = (x >= first) & (x <= last)
        if not bool(keep.all()):
            x = x[keep]
    # Estimate in float32 (off by at most one bin), then settle it against exact thresholds.
    est = torch.sub(x, first).mul_(bins / (last - first))
    idx = est.to(torch.int64).clamp_(0, bins - 1)
    idx -= (x < thresholds.index_select(0, idx)).to(torch.int64)
    idx += ((x >= thresholds.index_select(0, idx + 1)) & (idx != bins - 1)).to(torch.int64)
    return idx


def _bin_index(c: torch.Tensor, edges: torch.Tensor, weights: Any = None) -> Any:
    """Bin of each float64 value in ``[edges[0], edges[-1]]``, as ``numpy.histogram`` assigns it.

    Values outside the range (and NaN) are dropped; with ``weights``, returns (index, weights kept).
    """
    import torch

    bins = edges.numel() - 1
    first, last = float(edges[0]), float(edges[-1])
    keep = (c >= first) & (c <= last)  # also drops NaN; ±Inf fall outside any finite range
    if not bool(keep.all()):
        c = c[keep]
        if weights is not None:
            weights = weights[keep]
    span = last - first
    if math.isfinite(span) and math.isfinite(bins / span):
        # The same steps as numpy.histogram's uniform-bin path, so edge cases land identically.
        idx = ((c - first) * (bins / span)).to(torch.int64)
        idx[idx == bins] = bins - 1
    else:  # ranges NumPy refuses: span beyond float64 max, or so small that bins/span overflows
        if math.isfinite(span):
            est = (c - first) / span * bins
        else:
            est = (c * 0.5 - first * 0.5) * (bins / (last * 0.5 - first * 0.5))
        idx = est.to(torch.int64).clamp_(0, bins - 1)
    # index_select, not edges[idx]: the same values, but advanced indexing wakes the intra-op
    # pool even for a few thousand indices, and on a busy machine each wake-up waits for a time
    # slice (8 ms median for 5,000 indices, 2 threads, load 5; index_select: 5 µs).
    idx -= (c < edges.index_select(0, idx)).to(torch.int64)
    idx += ((c >= edges.index_select(0, idx + 1)) & (idx != bins - 1)).to(torch.int64)
    return idx if weights is None else (idx, weights)


# --- Narrow dtypes: one pass that counts bit patterns ----------------------------------------
#
# A 1- or 2-byte tensor has at most 65,536 distinct values. Counting how often each bit pattern
# occurs (one bincount pass, no float conversion) gives everything else exactly: min/max, zeros,
# NaN/Inf, mean and variance (math.fsum over <= 65,536 weighted values) and a histogram that
# bins each distinct value once with NumPy's rule. It reads the tensor once, where the float64
# path reads it twice and makes a dozen float64 temporaries per chunk.

_TABLE_CHUNK = 1 << 18  # bincount's int64 copy of a chunk (2 MB) stays in cache
_PER_THREAD = 1 << 23  # below ~8M elements per thread, starting threads costs more than it saves


@functools.cache
def _table_dtypes() -> frozenset[torch.dtype]:
    import torch

    names = ("bool", "uint8", "int8", "int16", "uint16", "float16", "bfloat16", "float8_e4m3fn",
             "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu")  # fmt: skip
    return frozenset(getattr(torch, n) for n in names if hasattr(torch, n))


@functools.cache
def _pattern_values(dtype: torch.dtype) -> np.ndarray:
    """The value of every bit pattern of ``dtype`` (index = pattern as unsigned), in float64."""
    import numpy as np
    import torch

    size = 1 << (8 * dtype.itemsize)
    patterns = np.arange(size, dtype=np.uint8 if size == 256 else np.uint16)
    if dtype == torch.bool:
        return (patterns != 0).astype(np.float64)
    as_torch = torch.from_numpy(patterns.view(np.int8 if size == 256 else np.int16)).view(dtype)
    wide = (
        torch.float64 if not dtype.is_floating_point else torch.float32
    )  # fp8 → float64 is 2-step
    return as_torch.to(wide).to(torch.float64).numpy()


def _pattern_counts(flat: torch.Tensor, chunk_elems: int) -> np.ndarray:
    """How many elements hold each bit pattern (int64, one entry per pattern)."""
    import numpy as np
    import torch

    itemsize = flat.element_size()
    size = 1 << (8 * itemsize)
    chunk = max(1, min(chunk_elems, _TABLE_CHUNK))
    view = flat.view(torch.uint8 if itemsize == 1 else torch.int16)
    if itemsize == 1:  # torch's bincount is fast on bytes (no widening copy), on any device
        acc = torch.zeros(size, dtype=torch.int64, device=flat.device)
        for start in range(0, view.numel(), chunk):
            acc += torch.bincount(view[start : start + chunk], minlength=size)
        return acc.cpu().numpy()
    if flat.device.type != "cpu":  # on the tensor's own device
        acc = torch.zeros(size, dtype=torch.int64, device=flat.device)
        for start in range(0, view.numel(), chunk):
            part = view[start : start + chunk].to(torch.int32)
            acc += torch.bincount(part & 0xFFFF, minlength=size)
        return acc.cpu().numpy()
    # CPU, 16-bit: NumPy's bincount beats torch's, and releases the GIL while it counts, so
    # big tensors are split across as many threads as torch itself would use. The compiled
    # kernel (layerscope.engine.kernels, when numba is there) counts in place: no int64 copy of each chunk,
    # ~3x faster.
    from layerscope.engine import kernels

    arr = view.numpy().view(np.uint16)
    compiled = kernels.available()

    def count(lo: int, hi: int) -> np.ndarray:
        table = np.zeros(size, dtype=np.int64)
        if compiled:
            kernels.table_u16(arr[lo:hi], table)
            return table
        for start in range(lo, hi, chunk):
            table += np.bincount(arr[start : min(start + chunk, hi)], minlength=size)
        return table

    n_threads = max(1, min(torch.get_num_threads(), 16, arr.size // _PER_THREAD))
    if n_threads == 1:
        return count(0, arr.size)
    from concurrent.futures import ThreadPoolExecutor

    cuts = [arr.size * i // n_threads for i in range(n_threads + 1)]
    with ThreadPoolExecutor(n_threads, thread_name_prefix="layerscope-stats") as pool:
        return sum(pool.map(count, cuts[:-1], cuts[1:]))


def _compute_by_table(
    flat: torch.Tensor,
    shape: tuple[int, ...],
    dtype: str,
    bins: int,
    chunk_elems: int,
    hist_range: tuple[float, float] | None,
) -> TensorStats:
    table = _pattern_counts(flat, chunk_elems)
    return _stats_from_table(table, flat.dtype, flat.numel(), shape, dtype, bins, hist_range)


def _stats_from_table(
    table: np.ndarray,
    tdtype: torch.dtype,
    numel: int,
    shape: tuple[int, ...],
    dtype: str,
    bins: int,
    hist_range: tuple[float, float] | None,
) -> TensorStats:
    """Every statistic and the histogram from the count of each bit pattern of ``tdtype``."""
    import numpy as np
    import torch

    values = _pattern_values(tdtype)
    present = table > 0
    counts, vals = table[present], values[present]
    finite = np.isfinite(vals)
    nan = int(counts[np.isnan(vals)].sum())
    posinf = int(counts[vals == math.inf].sum())
    neginf = int(counts[vals == -math.inf].sum())
    zeros = int(counts[vals == 0].sum())
    counts, vals = counts[finite], vals[finite]
    n = int(counts.sum())
    lo = hi = mean = std = None
    if n:
        as_num = int if not tdtype.is_floating_point else float
        lo, hi = as_num(vals.min()), as_num(vals.max())
        # Each count × value is exact in float64 (≤ 16 significant bits times a count below
        # 2**37) and fsum rounds their sum once: the mean is as exact as float64 allows.
        mean = math.fsum((counts * vals).tolist()) / n
        std = math.sqrt(math.fsum((counts * (vals - mean) ** 2).tolist()) / n)
    first, last = hist_range if hist_range is not None else (lo, hi)
    edges_np = histogram_edges(first, last, bins)
    hist = np.zeros(bins, dtype=np.int64)
    if n and first is not None:
        idx, w = _bin_index(torch.from_numpy(vals), torch.from_numpy(edges_np), counts)
        np.add.at(hist, idx.numpy(), w)
    return TensorStats(
        shape=shape, dtype=dtype, numel=numel, min=lo, max=hi, mean=mean, std=std,
        zeros=zeros, nan=nan, posinf=posinf, neginf=neginf, counts=hist.tolist(),
        edges=edges_np.tolist(),
    )  # fmt: skip


def count_in_range(x: Any, low: float, high: float, *, chunk_elems: int = DEFAULT_CHUNK) -> int:
    """Number of elements ``v`` with ``low <= v <= high`` (NaN never counts; complex: ``|v|``)."""
    import torch

    flat = _as_flat_tensor(x)
    if flat.is_complex():  # the same magnitude the statistics of a complex tensor describe
        flat = flat.abs()
    total = 0
    for start in range(0, flat.numel(), chunk_elems):
        c = flat[start : start + chunk_elems]
        if not (c.is_floating_point() or c.is_complex()):
            c = c.to(torch.float64)
        total += int(((c >= low) & (c <= high)).sum())
    return total
