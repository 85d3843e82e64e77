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
    bad = 0
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
        zeros += (b & _SIGNLESS) == 0
        bad += (b & _EXP) == _EXP  # NaN or ±Inf: the caller takes the reference path
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
    top = bins - 1
    n = a.size
    m = n // 8 * 8
    # Eight tables in turn: repeated values (ReLU's zeros) hit one counter 8 iterations apart, not
    # back to back, so increments do not wait on each other (measured 25% faster than pairs).
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
