"""The numba kernels behind ``layerscope.engine.kernels`` (imported only through it: numba is loaded lazily)."""

from __future__ import annotations

import functools
from typing import Any

import numba
import numpy as np

_SIGNLESS = 0x7FFFFFFF
_EXP = 0x7F800000
njit = functools.partial(numba.njit, cache=True, nogil=True)


# reassoc lets the float64 sums vectorise; no nnan/ninf, so NaN/Inf stay visible in them.
@njit(fastmath={"reassoc", "nsz"})
def moments_f32(a: Any, bits: Any) -> Any:
    s = 0.0
    sq = 0.0
    zeros = 0
    mag = np.int32(0)
    klo = np.int32(_SIGNLESS)
    khi = np.int32(-_SIGNLESS - 1)
    for i in range(a.size):
        b = bits[i]
        k = b ^ ((b >> 31) & _SIGNLESS)
        klo = min(klo, k)
        khi = max(khi, k)
        d = np.float64(a[i])  # a float32 squared is exact in float64
        s += d
        sq += d * d
        m = b & _SIGNLESS
        zeros += m == 0
        mag = max(mag, m)  # NaN and ±Inf have the largest magnitude bits
    bad = 0
    # NaN or ±Inf (the caller takes the reference path): counted only when there are some, as
    # a second loop; counting them in the loop above made it 13% slower (1M float32).
    if mag >= _EXP:
        for i in range(a.size):
            bad += (bits[i] & _EXP) == _EXP
    return klo, khi, s, sq, zeros, bad


@njit(fastmath={"reassoc", "nsz"})
def centered_f32(a: Any, mean: float) -> Any:
    s1 = 0.0
    s2 = 0.0
    for i in range(a.size):
        d = np.float64(a[i]) - mean
        s1 += d
        s2 += d * d
    return s1, s2


# The bin map must be float32 exactly as fast_stats.thresholds assumes: trunc(fl32(fl32(x -
# lo) * norm)). No fastmath here, so nothing is contracted or reassociated. Indices are
# clamped: a model that is not deterministic could give pass 2 values outside pass 1's range,
# and a compiled loop does not check bounds.
@njit
def hist_f32(a: Any, lo: Any, norm: Any, bins: int) -> Any:
    if bins > PAIR_MAX_BINS or a.size < max(PAIR_MIN_SIZE, 4 * bins * bins):
        return _hist_single(a, lo, norm, bins)
    counts = np.zeros(bins, np.int64)
    for s in range(0, a.size, _PAIR_CHUNK):  # int32 counters: at most _PAIR_CHUNK / 4 each
        counts += _hist_pairs(a[s : s + _PAIR_CHUNK], lo, norm, bins)
    return counts


# Counting in pairs: the increments (load, add, store) are the cost, not the bin arithmetic, so
# one increment per two values in a bins² table (2 x 2,500 int32 at 50 bins, in L1) is 1.7-1.9x
# faster than one per value (1M float32, 8-181 bins; still 1.4x at 256 bins, 512 KB of tables).
# Inputs under a few bins² values would pay more for clearing and folding the tables than they
# save.
PAIR_MAX_BINS = 256
PAIR_MIN_SIZE = 1 << 13
_PAIR_CHUNK = 1 << 32
_BLOCK = 1024  # values per step: bin numbers of both halves first (vectorised), then counted


@njit
def _hist_pairs(a: Any, lo: Any, norm: Any, bins: int) -> Any:
    top = bins - 1
    n = a.size
    half = _BLOCK // 2
    sq = bins * bins
    # Two tables in turn (as in _hist_single): ReLU's runs of zeros hit one counter every other
    # pair, so increments do not wait on each other (4 tables: no faster).
    part = np.zeros(2 * sq, np.int32)
    key = np.empty(half, np.int32)
    table = np.empty(half, np.int32)  # which table each pair goes to, as an offset
    for j in range(half):
        table[j] = (j & 1) * sq
    counts = np.zeros(bins, np.int64)
    m = n // _BLOCK * _BLOCK
    for s in range(0, m, _BLOCK):
        for j in range(half):
            p = min(max(np.int32((a[s + j] - lo) * norm), 0), top)
            q = min(max(np.int32((a[s + half + j] - lo) * norm), 0), top)
            key[j] = p * bins + q + table[j]
        for j in range(half):
            part[key[j]] += 1
    # pair (p, q) counts once for bin p and once for bin q: row sums plus column sums
    for r in range(2 * bins):
        row = 0
        for q in range(bins):
            c = np.int64(part[r * bins + q])
            row += c
            counts[q] += c
        counts[r % bins] += row
    for i in range(m, n):
        counts[min(max(np.int32((a[i] - lo) * norm), 0), top)] += 1
    return counts


@njit
def _hist_single(a: Any, lo: Any, norm: Any, bins: int) -> Any:
    top = bins - 1
    n = a.size
    m = n // 8 * 8
    # Eight tables in turn: repeated values (ReLU's zeros) hit one counter 8 iterations apart, not
    # back to back, so increments do not wait on each other (measured 25% faster than two tables).
    part = np.zeros((8, bins), np.int64)
    for i in range(0, m, 8):
        for r in range(8):
            part[r, min(max(np.int32((a[i + r] - lo) * norm), 0), top)] += 1
    counts = np.zeros(bins, np.int64)
    for r in range(8):
        counts += part[r]
    for i in range(m, n):
        counts[min(max(np.int32((a[i] - lo) * norm), 0), top)] += 1
    return counts


@njit
def fast_norm(lo: float, hi: float, bins: int) -> Any:
    """Compiled twin of ``fast_stats._fast_norm`` (same float32 steps); 0 where that gives None."""
    lo32, hi32 = np.float32(lo), np.float32(hi)
    span = hi32 - lo32
    zero = np.float32(0.0)
    if not (span > 0 and span < np.inf):
        return zero
    norm = np.float32(bins / (hi - lo))
    top = np.float32(bins)
    for _ in range(8):
        if not (norm > 0 and norm < np.inf):
            return zero
        if span * norm < top:
            return norm
        norm = np.nextafter(norm, zero)
    return zero


@njit
def bin_f32(a: Any, lo: float, hi: float, bins: int) -> Any:
    """Scale, counts and edges of the fast histogram in one call (each Python-side step of the
    three costs a few µs per tensor); scale 0 and empty arrays where it does not apply."""
    norm = fast_norm(lo, hi, bins)
    if norm == 0:
        return norm, np.zeros(0, np.int64), np.zeros(0, np.float64)
    lo32 = np.float32(lo)
    return norm, hist_f32(a, lo32, norm, bins), thresholds(lo32, np.float32(hi), norm, bins)


@njit
def table_u16(u: Any, out: Any) -> None:
    # Two int32 tables in turn (1 MB, stays in L2): repeated patterns do not wait on each other's
    # increments; measured 2.3x faster than one int64 table. Flushed before int32 could overflow.
    n = u.size
    step = 1 << 26
    t = np.zeros((2, 65536), np.int32)
    for s in range(0, n, step):
        e = min(s + step, n)
        m = s + (e - s) // 2 * 2
        for i in range(s, m, 2):
            t[0, u[i]] += 1
            t[1, u[i + 1]] += 1
        for i in range(m, e):
            t[0, u[i]] += 1
        for j in range(65536):
            out[j] += t[0, j] + t[1, j]
            t[0, j] = 0
            t[1, j] = 0


@njit
def thresholds(lo: Any, hi: Any, norm: Any, bins: int) -> Any:
    """Compiled twin of ``fast_stats.thresholds_reference`` (same searches, same result).

    Order keys as there: ``m`` for a float32 of magnitude bits ``m`` and sign +, ``-m`` for -.
    """
    fbuf = np.empty(1, np.float32)
    ibuf = fbuf.view(np.int32)

    def key(v):
        fbuf[0] = v
        b = np.int64(ibuf[0])
        return -(b & _SIGNLESS) if b < 0 else b

    def unkey(k):
        ibuf[0] = np.int32(k) if k >= 0 else np.int32(-k) | np.int32(-_SIGNLESS - 1)
        return fbuf[0]

    def bin_of(v):
        return np.trunc(np.float32(np.float32(v - lo) * norm))

    out = np.empty(bins + 1, np.float64)
    out[0] = lo
    out[bins] = hi
    klo, khi = key(lo), key(hi)
    for i in range(1, bins):
        w = np.float32(i)
        # smallest float32 difference d reaching bin i, searched from i / norm
        kd = key(np.float32(np.float64(i) / np.float64(norm)))
        while np.trunc(np.float32(unkey(kd) * norm)) >= w:
            kd -= 1
        while np.trunc(np.float32(unkey(kd) * norm)) < w:
            kd += 1
        mid = (np.float64(unkey(kd - 1)) + np.float64(unkey(kd))) / 2
        k = key(np.float32(np.float64(lo) + mid))
        a, b = k - 5, k + 5
        if a < klo or b > khi or bin_of(unkey(a)) >= w or bin_of(unkey(b)) < w:
            a, b = klo, khi
        while b - a > 1:  # invariant: bin(a) < i <= bin(b)
            m = (a + b) // 2
            if bin_of(unkey(m)) >= w:
                b = m
            else:
                a = m
        out[i] = min(np.float64(unkey(b)), np.float64(hi))
    return out
