"""Asks the engine for what the tensor view shows, from a worker thread, without repeating work.

The engine caches statistics per tensor, view and bin count; this adds the two answers it does
not cache (the count inside a value range, and a quantized tensor's range use and per-channel
table), and lets only one heavy request run at a time so stale requests can bow out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from layerscope.tui.messages import StatsReady

if TYPE_CHECKING:
    from layerscope.engine.model import TensorRef


class StatsFetcher:
    """Per-session answers about tensors; lives as long as the screen, forgets dropped models."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._lock = threading.Lock()
        self._in_range: WeakKeyDictionary[TensorRef, dict[Any, int]] = WeakKeyDictionary()
        self._quant: WeakKeyDictionary[TensorRef, dict[str, Any]] = WeakKeyDictionary()
        # Answers already given, so a tensor seen before is shown without a worker round trip.
        self._answers: WeakKeyDictionary[TensorRef, dict[Any, StatsReady]] = WeakKeyDictionary()

    def cached(
        self, ref: TensorRef, view: str, bins: int, low: float | None, high: float | None
    ) -> StatsReady | None:
        """A fresh message with an answer given before for these arguments, if any (UI thread)."""
        old = self._answers.get(ref, {}).get((view, bins, low, high))
        if old is None:
            return None
        return StatsReady(ref, view, bins, old.stats, old.in_range, old.quant)

    def fetch(
        self,
        ref: TensorRef,
        view: str,
        bins: int,
        low: float | None,
        high: float | None,
        cancelled: Callable[[], bool],
    ) -> StatsReady | None:
        """Everything the view needs for ``ref``; ``None`` if ``cancelled()`` while waiting."""
        from layerscope.engine.inspect import count_in_range, tensor_stats

        with self._lock:
            if cancelled():  # the user moved on while another tensor was being computed
                return None
            stats = tensor_stats(ref, bins=bins, view=view, device=self.device)
            in_range = None
            if low is not None and high is not None:
                counts = self._in_range.setdefault(ref, {})
                if (view, low, high) not in counts:
                    counts[(view, low, high)] = count_in_range(
                        ref, low, high, view=view, device=self.device
                    )
                in_range = counts[(view, low, high)]
            quant = self._quant_details(ref) if ref.quant is not None else {}
        ready = StatsReady(ref, view, bins, stats, in_range, quant)
        self._answers.setdefault(ref, {})[(view, bins, low, high)] = ready
        return ready

    def _quant_details(self, ref: TensorRef) -> dict[str, Any]:
        if ref in self._quant:
            return self._quant[ref]
        from layerscope.engine.inspect import tensor_values
        from layerscope.engine.quant import channel_summary, channel_table, health

        assert ref.quant is not None
        values = tensor_values(ref, "int", self.device)
        rows = channel_table(values, ref.quant) if ref.quant.per_channel else None
        details = {
            "health": health(values, ref.quant),
            "channels": rows,
            "channel_summary": channel_summary(rows) if rows else None,
        }
        self._quant[ref] = details
        return details
