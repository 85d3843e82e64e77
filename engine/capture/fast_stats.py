"""Exact statistics of one activation in a handful of vectorised passes, on the tensor's device.

``layerscope.engine.stats.compute`` is the reference: float64 chunks, NumPy-identical binning. It is exact but
makes ~15 float64 passes over a tensor, several times the cost of the layer that produced it. Here a
finite float32/float16/bfloat16 activation takes one ``aminmax`` pass, then one sweep in chunks of
31K values that stay in the CPU cache while seven small kernels run over them (row sums, row
norms, non-zero counts, bin numbers), then one ``bincount`` of the bin numbers:

* ``min``, ``max``, ``numel``, ``zeros`` and the NaN/±Inf counts are exact (a tensor with NaN or
  Inf, or with ``min == max``, goes through ``layerscope.engine.stats.compute`` instead).
* ``mean`` and ``std`` come from sums and sums of squares, float32 within rows of 1,024 values and
  float64 across rows; where the mean dominates the spread (mean² > 16 var) the variance is taken
  about the mean instead, so cancellation never costs more than ~1e-5 relative. They are not
  bit-equal to the float64 reference.
* Histogram counts are exact for the edges reported. A value goes to bin
  ``trunc(fl32(fl32(x - min) * norm))`` with ``norm`` the float32 nearest ``bins / (max - min)``
  nudged down until ``max`` maps below ``bins``. That map is monotone, so each bin is exactly
  ``[edge_i, edge_i+1)`` (the last one closed) where ``edge_i`` is the smallest float32 the map
  sends to bin ``i``. Those thresholds are what ``edges`` holds; they lie within a few float32 ulps
  of ``numpy.linspace(min, max, bins + 1)``.

On the CPU, when numba is installed, the same results come from two compiled kernels
(``layerscope.engine.kernels``): one read of the values for count/min/max/zeros/NaN-Inf and float64 sums,
one read to bin them (same bin map, same edges); the sweep above remains for CUDA tensors.

Long because the torch sweep (CUDA, and CPUs without numba) and the exact edge search must
match the reference bin for bin; the compiled CPU kernels live in layerscope.engine.kernels.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from layerscope.engine import kernels
from layerscope.engine import stats as _stats
from layerscope.engine.stats import TensorStats

if TYPE_CHECKING:
    import torch

BLOCK = 1024
# 124 KB of float32: a chunk and its scratch stay in L2 between the kernels that sweep it.
CHUNK = 31 * BLOCK
_FAST_DTYPES = ("float32", "float16", "bfloat16")
# Row norms square values in float32: 1,024 squares of 2**56 stay below float32's max (2**128),
# squares of 2**-40 stay normal. Tensors outside take the reference path (float64, scaled).
_FAST_MAGNITUDE = (2.0**-40, 2.0**56)
_SQUARE_SAFE = 2.0**480  # below this, a square times any count (< 2**60) stays finite


@dataclass
class Moments:
    """Mergeable partial statistics of one tensor over one or more batches (Chan et al.)."""

    shape: tuple[int, ...]
    dtype: str
    numel: int
    count: int  # finite values
    mean: float
    m2: float
    min: float | None
    max: float | None
    zeros: int
    nan: int = 0
    posinf: int = 0
    neginf: int = 0
    # M2 is ``m2 * 4**m2_exp``: values above ~1e154 have squares beyond float64, so their M2 is
    # kept in units of a power of two (0 for every tensor of ordinary magnitude).
    m2_exp: int = 0

    @classmethod
    def from_stats(cls, s: TensorStats) -> Moments:
        count = s.finite
        std = s.std or 0.0
        exp = math.frexp(std)[1] if std > _SQUARE_SAFE else 0
        scaled = math.ldexp(std, -exp)
        return cls(s.shape, s.dtype, s.numel, count, s.mean or 0.0, scaled * scaled * count,
                   s.min, s.max, s.zeros, s.nan, s.posinf, s.neginf, exp)  # fmt: skip

    def merge(self, o: Moments) -> Moments:
        """Both partitions together; the shape grows along the batch axis."""
        tot = self.count + o.count
        delta = o.mean - self.mean
        mean = self.mean + delta * o.count / tot if tot else 0.0
        # One unit for both M2s and the spread of the means (a power of two: exact rescaling).
        exp = max(self.m2_exp, o.m2_exp, math.frexp(delta)[1] if abs(delta) > _SQUARE_SAFE else 0)
        d = math.ldexp(delta, -exp)
        m2 = (math.ldexp(self.m2, 2 * (self.m2_exp - exp)) + math.ldexp(o.m2, 2 * (o.m2_exp - exp))
              + (d * d * self.count * o.count / tot if tot else 0.0))  # fmt: skip
        shape = self.shape
        if self.shape[1:] == o.shape[1:] and self.shape:
            shape = (self.shape[0] + o.shape[0], *self.shape[1:])
        return Moments(shape, self.dtype, self.numel + o.numel, tot, mean, m2,
                       _pick(min, self.min, o.min), _pick(max, self.max, o.max),
                       self.zeros + o.zeros, self.nan + o.nan, self.posinf + o.posinf,
                       self.neginf + o.neginf, exp)  # fmt: skip

    def to_stats(self, counts: list[int], edges: list[float]) -> TensorStats:
        has = self.count > 0
        return TensorStats(
            shape=self.shape, dtype=self.dtype, numel=self.numel,
            min=self.min, max=self.max,
            mean=self.mean if has else None,
            std=math.ldexp(math.sqrt(max(self.m2, 0.0) / self.count), self.m2_exp) if has else None,
            zeros=self.zeros, nan=self.nan, posinf=self.posinf, neginf=self.neginf,
            counts=counts, edges=edges,
        )  # fmt: skip

    @property
    def fast(self) -> bool:
        """Whether the fast histogram applies over all batches (finite float, ``min < max``)."""
        return self.dtype in _FAST_DTYPES and self.count == self.numel and self.min != self.max


def _pick(f, a, b):  # noqa: ANN001, ANN202 - min/max that ignores None
    if a is None:
        return b
    return a if b is None else f(a, b)


class Workspace:
    """Scratch buffers reused across tensors: no allocation (and no page faults) per activation.

    Grows to the largest activation seen (about 2.5× its float32 size) and is then flat.
    """

    def __init__(self) -> None:
        self._f: dict[str, torch.Tensor] = {}

    def get(self, key: str, n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        import torch

        buf = self._f.get(key)
        if buf is None or buf.numel() < n or buf.device != device or buf.dtype != dtype:
            buf = torch.empty(max(n, 1 << 16), dtype=dtype, device=device)
            self._f[key] = buf
        return buf[:n]


_DEFAULT_WS = Workspace()


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch's CPU kernels on the calling thread only, restoring the pool size afterwards.

    Statistics are many small kernels. Each parallel one wakes the intra-op pool and waits for
    every thread at a barrier; when other processes hold the CPUs that wait is a scheduler time
    slice, and it cost 6× the work itself (5 ms vs 32 ms per 1M-value activation, 2 threads, on a
    shared 2-CPU machine). One thread does the same work with no waiting. The setting is
    process-wide, so torch work on other Python threads also runs single-threaded meanwhile.
    """
    import torch

    n = torch.get_num_threads()
    if n == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _fast_norm(lo: float, hi: float, bins: int) -> float | None:
    """The float32 scale of the bin map, or ``None`` when it would over- or underflow.

    Nudged down (by an ulp or two) until ``max`` maps strictly below ``bins``, so the truncated
    bin number never needs clamping: one pass fewer per tensor.
    """
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if abs(lo) < 2.0**126 and abs(hi) < 2.0**126:  # no overflow: errstate costs 2 µs per tensor
        span = hi32 - lo32
    else:
        with np.errstate(over="ignore"):
            span = hi32 - lo32
    if not (0.0 < span < np.inf):
        return None
    norm = np.float32(bins / (hi - lo))
    top = np.float32(bins)
    for _ in range(8):
        if not (0.0 < norm < np.inf):
            return None
        if span * norm < top:
            return float(norm)
        norm = np.nextafter(norm, np.float32(0))
    return None


def stats(
    x: torch.Tensor, bins: int = _stats.DEFAULT_BINS, ws: Workspace | None = None
) -> TensorStats:
    """Statistics and histogram of ``x``: the fast path where it applies, the reference otherwise."""
    ws = ws or _DEFAULT_WS
    a = _cpu_values(x, ws)
    if a is not None:  # compiled kernels: one read for the moments, one to bin
        m = _kernel_moments(x, a)
        binned = kernels.bin_f32(a, m.min, m.max, bins) if m is not None else None
        if m is None or binned is None:
            return _stats.compute(x, bins)
        return m.to_stats(*binned)
    flat, lo, hi = _prepare(x, ws)
    norm = _fast_norm(lo, hi, bins) if flat is not None else None
    if flat is None or norm is None:
        return _stats.compute(x, bins)
    m, counts = _fused(x, flat, lo, hi, norm, bins, ws, want_moments=True)
    return m.to_stats(counts, thresholds(lo, hi, norm, bins))


def moments(x: torch.Tensor, ws: Workspace | None = None) -> Moments:
    """Partial statistics of ``x`` (no histogram), for merging over batches."""
    ws = ws or _DEFAULT_WS
    a = _cpu_values(x, ws)
    if a is not None:
        m = _kernel_moments(x, a)
        return m if m is not None else Moments.from_stats(_stats.compute(x, 1))
    flat, lo, hi = _prepare(x, ws)
    if flat is None:
        return Moments.from_stats(_stats.compute(x, 1))
    m, _ = _fused(x, flat, lo, hi, None, 0, ws, want_moments=True)
    return m


def histogram(
    x: torch.Tensor, bins: int, lo: float, hi: float, fast: bool, ws: Workspace | None = None
) -> tuple[list[int], list[float]]:
    """Counts of ``x`` over a range fixed beforehand (``min``/``max`` of all batches).

    ``fast`` must be the same for every batch of one tensor (``Moments.fast`` of the merged
    moments), so that all batches share one set of edges.
    """
    ws = ws or _DEFAULT_WS
    norm = _fast_norm(lo, hi, bins) if fast else None
    a = _cpu_values(x, ws) if norm is not None else None
    if norm is not None and a is not None:
        counts = kernels.hist_f32(a, np.float32(lo), np.float32(norm), bins).tolist()
        return counts, thresholds(lo, hi, norm, bins)
    if norm is not None:
        _, counts = _fused(x, _as_float32(x, ws), lo, hi, norm, bins, ws, want_moments=False)
        return counts, thresholds(lo, hi, norm, bins)
    s = _stats.compute(x, bins, hist_range=(lo, hi))
    return s.counts, s.edges


def _cpu_values(x: torch.Tensor, ws: Workspace) -> np.ndarray | None:
    """``x`` as a flat float32 NumPy array for the compiled kernels, or None where they don't apply
    (no numba, not on the CPU, not float32/float16/bfloat16, empty, quantized)."""
    if (
        x.device.type != "cpu"
        or x.is_quantized
        or x.numel() == 0
        or _stats.dtype_name(x) not in _FAST_DTYPES
        or not kernels.available()
    ):
        return None
    return _as_float32(x, ws).numpy()


def _kernel_moments(x: torch.Tensor, a: np.ndarray) -> Moments | None:
    """Exact count/min/max/zeros and float64 moments in one read; None for NaN/Inf or ``min == max``
    (the reference path handles those)."""
    lo, hi, total, sq, zeros, bad = kernels.moments_f32(a)
    n = a.size
    if bad or lo == hi:
        return None
    if not _FAST_MAGNITUDE[0] <= max(abs(lo), abs(hi)) <= _FAST_MAGNITUDE[1]:
        return None  # float64 sums would cope; kept so that edges are the same as the torch path's
    mean = total / n
    m2 = sq - total * mean
    # Each square is exact in float64 and the sums carry ~1e-16·n relative error, so sq - n·mean²
    # keeps ~1e-5 relative precision while mean² stays below ~1e5 var. Past that: centred pass.
    if not m2 > 0 or mean * mean * n > 1e4 * m2:
        s1, s2 = kernels.centered_f32(a, mean)
        mean, m2 = mean + s1 / n, max(s2 - s1 * s1 / n, 0.0)
    return Moments(tuple(x.shape), _stats.dtype_name(x), n, n, mean, m2, lo, hi, zeros)


def _as_float32(x: torch.Tensor, ws: Workspace) -> torch.Tensor:
    import torch

    flat = x.detach()
    if flat.dtype == torch.float32 and flat.is_contiguous():
        return flat.view(-1)
    out = ws.get("x32", flat.numel(), torch.float32, flat.device)
    out.view(flat.shape).copy_(flat)  # float16/bfloat16 are exact in float32
    return out


def _prepare(x: torch.Tensor, ws: Workspace) -> tuple[torch.Tensor | None, float, float]:
    """The flat float32 view and its exact min/max, or ``None`` when the fast path does not apply."""
    import torch

    if x.is_quantized or _stats.dtype_name(x) not in _FAST_DTYPES or x.numel() == 0:
        return None, 0.0, 0.0
    flat = _as_float32(x, ws)
    lo_t, hi_t = torch.aminmax(flat)
    if flat.is_cuda:
        lo, hi = torch.stack([lo_t, hi_t]).tolist()  # one device sync; NaN propagates into both
    else:
        lo, hi = lo_t.item(), hi_t.item()
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo == hi:
        return None, 0.0, 0.0
    if not _FAST_MAGNITUDE[0] <= max(abs(lo), abs(hi)) <= _FAST_MAGNITUDE[1]:
        return None, 0.0, 0.0  # float32 row sums of squares would overflow (or underflow)
    return flat, lo, hi


def _fused(
    x: torch.Tensor,
    flat: torch.Tensor,
    lo: float,
    hi: float,
    norm: float | None,
    bins: int,
    ws: Workspace,
    want_moments: bool,
) -> tuple[Moments | None, list[int]]:
    """Row sums, row norms, non-zero counts and bin numbers in one sweep of cache-sized chunks.

    Memory traffic, not arithmetic, is what these passes cost: each chunk is read from memory once
    and its five kernels then run on data still in the CPU cache (on a GPU this is just fewer
    launches of bigger kernels).
    """
    import torch

    n, dev = flat.numel(), flat.device
    nrows = n // BLOCK
    m = nrows * BLOCK
    rsum = ws.get("rsum", nrows, torch.float32, dev)
    rsq = ws.get("rsq", nrows, torch.float32, dev)
    rnz = ws.get("rnz", nrows, torch.float32, dev)
    paired = norm is not None and bins <= 128 and n >= 2 and sys.byteorder == "little"
    codes = None
    if norm is not None:
        codes = ws.get("codes", n, torch.uint8 if paired else torch.int32, dev)
    g = ws.get("f", min(CHUNK, n), torch.float32, dev)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        r0, r1 = start // BLOCK, min(stop, m) // BLOCK
        if want_moments and r1 > r0:
            rows = flat[r0 * BLOCK : r1 * BLOCK].view(-1, BLOCK)
            scratch = g[: (r1 - r0) * BLOCK].view(-1, BLOCK)
            torch.sum(rows, 1, out=rsum[r0:r1])
            torch.linalg.vector_norm(rows, dim=1, out=rsq[r0:r1])
            # sign(x)² is 1 for a non-zero: a row's squared norm of signs is its non-zero count.
            torch.linalg.vector_norm(torch.sign(rows, out=scratch), dim=1, out=rnz[r0:r1])
        if codes is not None:
            gc = torch.sub(flat[start:stop], lo, out=g[: stop - start])
            gc.mul_(norm)  # lo and norm are float32 values: the host reproduces the map exactly
            if paired:  # float → int32 → uint8 is ~3× faster than float → uint8 directly
                ic = ws.get("i32", min(CHUNK, n), torch.int32, dev)[: stop - start]
                codes[start:stop].copy_(ic.copy_(gc))  # truncates; every value is in [0, bins)
            else:
                codes[start:stop].copy_(gc)
    mom = None
    if want_moments:
        tail = flat[m:].to(torch.float64)
        total, sq, nz = torch.stack([
            rsum.to(torch.float64).sum() + tail.sum(),
            rsq.to(torch.float64).square().sum() + tail.square().sum(),
            rnz.to(torch.float64).square().round().sum() + (tail != 0).sum(),
        ]).tolist()  # fmt: skip
        mean = total / n
        m2 = sq - n * mean * mean
        if not m2 > 0 or mean * mean * n > 16 * m2:
            mean, m2 = _centered(flat, mean, ws)
        mom = Moments(tuple(x.shape), _stats.dtype_name(x), n, n, mean, m2, lo, hi, n - round(nz))
    counts: list[int] = []
    if codes is not None:
        if not paired:
            counts = torch.bincount(codes, minlength=bins).tolist()
        else:
            # bincount is a scalar loop. Halve its iterations: two uint8 bin numbers side by side
            # read as one int16 ``a + 256 * b`` (little-endian), counted jointly, summed both ways.
            n2 = n // 2 * 2
            joint = torch.bincount(codes[:n2].view(torch.int16), minlength=256 * bins)
            joint = joint[: 256 * bins].view(bins, 256)
            c = joint[:, :bins].sum(0) + joint.sum(1)
            if n2 != n:
                c[int(codes[-1])] += 1
            counts = c.tolist()
    return mom, counts


def _centered(flat: torch.Tensor, mean: float, ws: Workspace) -> tuple[float, float]:
    """Mean and M2 about the mean, for tensors whose mean dominates their spread (one more pass)."""
    import torch

    d = torch.sub(flat, mean, out=ws.get("centered", flat.numel(), torch.float32, flat.device))
    d64 = d.to(torch.float64)
    s1 = float(d64.sum())
    return mean + s1 / d.numel(), float(d64.square().sum()) - s1 * s1 / d.numel()


def _bin_of(v: np.ndarray, lo32: np.float32, norm32: np.float32) -> np.ndarray:
    return np.trunc((v - lo32) * norm32)


def _to_ord(v: np.ndarray) -> np.ndarray:
    """Float32 → int64 keys in the same order as the floats."""
    i = v.astype(np.float32).view(np.int32).astype(np.int64)
    return np.where(i < 0, -(2**31) - i, i)


def _from_ord(k: np.ndarray) -> np.ndarray:
    i = np.where(k < 0, -(2**31) - k, k).astype(np.int32)
    return i.view(np.float32)


def _step_starts(norm32: np.float32, want: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Where each bin starts in ``x - lo`` (float64), to guess the edges in ``x`` from.

    The map rounds twice. ``d = fl32(x - lo)`` reaches bin ``i`` from the smallest float32 ``d_i``
    with ``trunc(fl32(d_i * norm)) >= i`` (found in a few-ulp window: ``d`` is far from zero).
    ``fl32(x - lo)`` reaches ``d_i`` once ``x - lo`` passes the midpoint below ``d_i``, so the edge
    in ``x`` lies next to ``lo`` + that midpoint, even where ``x`` is near zero and its ulps are
    far finer than ``d``'s (a range spanning zero).
    """
    guess = _to_ord(np.float32(want.astype(np.float64) / float(norm32)))
    cand = guess[:, None] + window[None, :]
    reach = np.trunc(_from_ord(cand) * norm32) >= want[:, None]
    first = np.where(reach.any(axis=1) & ~reach[:, 0], reach.argmax(axis=1), window.size // 2)
    d = cand[np.arange(want.size), first]
    return (_from_ord(d - 1).astype(np.float64) + _from_ord(d).astype(np.float64)) / 2


def thresholds(lo: float, hi: float, norm: float, bins: int) -> list[float]:
    """Edges of the fast histogram: ``lo``, the smallest float32 reaching each bin, ``hi``."""
    if kernels.available():
        return kernels.thresholds(lo, hi, norm, bins)
    return thresholds_reference(lo, hi, norm, bins)


def thresholds_reference(lo: float, hi: float, norm: float, bins: int) -> list[float]:
    """``thresholds`` in NumPy: vectorised window searches around good guesses, then bisection."""
    lo32, norm32 = np.float32(lo), np.float32(norm)
    want = np.arange(1, bins, dtype=np.float32)
    window = np.arange(-4, 5)
    guess = _to_ord(np.float32(lo + _step_starts(norm32, want, window)))
    cand = guess[:, None] + window[None, :]
    reach = _bin_of(_from_ord(cand), lo32, norm32) >= want[:, None]
    first = reach.argmax(axis=1)
    ok = reach.any(axis=1) & ~reach[:, 0]
    keys = cand[np.arange(bins - 1), first]
    if not ok.all():
        # Far from the guess: near zero float32 ulps are much finer than the rounding of x - lo,
        # so a range that spans zero misses the window for the edges close to it. Bisect all of
        # them at once (≤ 32 vectorised steps over the order keys).
        idx = np.flatnonzero(~ok)
        a = np.full(idx.size, _to_ord(np.float32([lo]))[0])  # invariant: bin(a) < want
        b = np.full(idx.size, _to_ord(np.float32([hi]))[0])  # invariant: bin(b) >= want
        target = want[idx]
        while (b - a > 1).any():
            mid = (a + b) // 2
            up = _bin_of(_from_ord(mid), lo32, norm32) >= target
            b = np.where(up, mid, b)
            a = np.where(up, a, mid)
        keys[idx] = b
    inner = np.minimum(_from_ord(keys).astype(np.float64), hi)
    return [float(lo), *inner.tolist(), float(hi)]
