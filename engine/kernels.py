"""Compiled CPU kernels for statistics: one read for the moments, one more for the histogram.

Torch and NumPy compute each statistic in a pass of its own (min/max, sum, sum of squares, zeros,
NaN/Inf, bin numbers, bincount): a dozen reads of every activation. These numba kernels read the
values once for count/min/max/sum/sum of squares/zeros/NaN-or-Inf and once more to bin them, and
release the GIL while they run. Compiled code is cached on disk (``cache=True``): the compile
(a few seconds) happens once per machine, not per run.

Only CPU float32 (and 16-bit patterns) go through here; ``available()`` is False when numba is
missing or fails to load, and callers then use their torch path. ``layerscope.engine.stats`` stays the
NumPy-identical reference.
"""

from __future__ import annotations

import functools
import struct
from typing import Any

import numpy as np

# Order-preserving int32 keys of float32 bit patterns: key(b) = b ^ ((b >> 31) & 0x7FFFFFFF).
# Comparing keys as integers orders the floats (with -0.0 just below +0.0), and an integer
# min/max vectorises where a float one cannot (it must keep NaN's semantics).
_SIGNLESS = 0x7FFFFFFF
_EXP = 0x7F800000


@functools.cache
def _compiled() -> Any:
    """The kernels, compiled (or loaded from the on-disk cache) on first use; None without numba."""
    try:
        from layerscope.engine import _jit_kernels as k
    except Exception:  # noqa: BLE001 - any import failure means: use torch instead
        return None
    return k.moments_f32, k.centered_f32, k.hist_f32, k.table_u16, k.thresholds, k.bin_f32


def available() -> bool:
    """Whether the compiled kernels can be used (numba imports)."""
    return _compiled() is not None


_I32, _F32 = struct.Struct("<i"), struct.Struct("<f")


def _key_to_float(k: int) -> float:
    # struct, not a NumPy view: 0.4 µs instead of 2, twice per tensor
    k = int(k)
    return _F32.unpack(_I32.pack(k ^ ((k >> 31) & _SIGNLESS)))[0]


def moments_f32(a: np.ndarray) -> tuple[float, float, float, float, int, int]:
    """``(min, max, sum, sum of squares, zeros, NaN-or-Inf count)`` of a 1-D float32 array.

    Sums are float64. ``min``/``max`` are meaningless when the last count is not 0.
    """
    klo, khi, s, sq, zeros, bad = _compiled()[0](a, a.view(np.int32))
    return _key_to_float(klo), _key_to_float(khi), float(s), float(sq), int(zeros), int(bad)


def centered_f32(a: np.ndarray, mean: float) -> tuple[float, float]:
    """Sum and sum of squares of ``a - mean`` in float64 (for means that dominate the spread)."""
    s1, s2 = _compiled()[1](a, float(mean))
    return float(s1), float(s2)


def hist_f32(a: np.ndarray, lo: np.float32, norm: np.float32, bins: int) -> np.ndarray:
    """Counts of ``trunc(fl32(fl32(a - lo) * norm))`` over ``bins`` bins (clamped into range)."""
    return _compiled()[2](a, np.float32(lo), np.float32(norm), int(bins))


def bin_f32(a: np.ndarray, lo: float, hi: float, bins: int) -> tuple[list[int], list[float]] | None:
    """Counts and edges of ``fast_stats``' histogram of ``a`` over ``[lo, hi]`` in one call (the
    scale of ``fast_stats._fast_norm``, ``hist_f32``, ``thresholds``); None where that scale would
    over- or underflow (``_fast_norm`` gives None)."""
    norm, counts, edges = _compiled()[5](a, float(lo), float(hi), int(bins))
    if norm == 0:
        return None
    return counts.tolist(), edges.tolist()


def table_u16(u: np.ndarray, out: np.ndarray) -> None:
    """Add the occurrences of each 16-bit pattern of ``u`` (uint16) to ``out`` (int64[65536])."""
    _compiled()[3](u, out)


def thresholds(lo: float, hi: float, norm: float, bins: int) -> list[float]:
    """``fast_stats.thresholds_reference`` compiled: the same edges, ~100x sooner."""
    return _compiled()[4](np.float32(lo), np.float32(hi), np.float32(norm), int(bins)).tolist()
