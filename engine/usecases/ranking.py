"""The model's tensors ranked by one statistic, worst first: "show me the worst layers first".

Each tensor's statistics come from :func:`layerscope.engine.inspect.tensor_stats` (cached on the tensor, so
the inspector shows them at once afterwards). Quantized tensors are ranked by their dequantized
values. Cancellable between tensors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from layerscope.engine.errors import Cancelled, InputError

if TYPE_CHECKING:
    from layerscope.engine.model import Model
    from layerscope.engine.stats import TensorStats


def _std(s: TensorStats) -> float | None:
    return s.std


def _zeros(s: TensorStats) -> float | None:
    return s.zeros / s.numel if s.numel else None


def _nonfinite(s: TensorStats) -> float | None:
    return float(s.nan + s.posinf + s.neginf)


def _absmax(s: TensorStats) -> float | None:
    if s.min is None or s.max is None:
        return None
    return max(abs(s.min), abs(s.max))


# key → (what people read, value of a tensor's statistics, worst first = largest first?)
RANKINGS: dict[str, tuple[str, Callable[[TensorStats], float | None], bool]] = {
    "std": ("std, smallest first (collapsed or dead tensors)", _std, False),
    "zeros": ("zero fraction, largest first (sparse or dead)", _zeros, True),
    "nonfinite": ("NaN/Inf count, largest first", _nonfinite, True),
    "absmax": ("largest |value| first (outliers that stretch a quantization range)", _absmax, True),
}


@dataclass(frozen=True)
class Ranked:
    """One tensor's place in a ranking."""

    tensor: str
    layer: str
    role: str
    value: float


class RankingCancelled(Cancelled):
    """The user stopped the ranking."""


def rank_tensors(
    model: Model,
    key: str,
    *,
    bins: int = 50,
    cancel: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Ranked]:
    """Every tensor of ``model`` with a value for statistic ``key`` (:data:`RANKINGS`), worst
    first; ties keep the model's order. Tensors without a value (empty ones) are left out."""
    from layerscope.engine.inspect import tensor_stats

    if key not in RANKINGS:
        raise InputError(f"rank by one of {', '.join(RANKINGS)}, not {key!r}")
    _, value_of, largest_first = RANKINGS[key]
    refs = list(model.tensors())
    found: list[Ranked] = []
    for i, ref in enumerate(refs):
        if cancel is not None and cancel.is_set():
            raise RankingCancelled("ranking cancelled")
        value = value_of(tensor_stats(ref, bins, "float"))
        if value is not None:
            found.append(Ranked(ref.name, ref.layer, ref.role, float(value)))
        if progress is not None:
            progress(i + 1, len(refs))
    return sorted(found, key=lambda r: -r.value if largest_first else r.value)
