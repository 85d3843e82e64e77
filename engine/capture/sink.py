"""Where captured tensors go: statistics now, values when asked, merged exactly over batches.

One batch (the usual case) takes one pass: each tensor's full statistics are computed as it is
produced and the tensor is dropped. Several batches take two passes, because histograms over
different ranges cannot be merged exactly: pass 1 merges exact partial statistics (count, min,
max, zeros, NaN/Inf, Chan-merged moments) over all batches; pass 2 reruns the batches and bins
every tensor over the range found in pass 1, summing the counts. The result is the same as one
batch holding every sample.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from layerscope.engine import stats as _stats
from layerscope.engine.capture import fast_stats as fs
from layerscope.engine.capture.result import Activation
from layerscope.engine.model import QuantInfo
from layerscope.engine.quant import dequantize, int_bins, torch_quant_info

if TYPE_CHECKING:
    import torch

PASS_FULL, PASS_MOMENTS, PASS_HIST = "full", "moments", "hist"
Progress = Callable[[int, int | None, str], None]
_VALUES_ONLY: ContextVar[bool] = ContextVar("layerscope_values_only", default=False)


@contextmanager
def values_only() -> Iterator[None]:
    """Captures started inside keep the kept tensors' values and compute no statistics at all.

    For callers that only compare values (quant-compare): their activations carry shape, dtype
    and numel, no min/max/histogram, and tensors not kept are not recorded. Use with
    ``mode="tensors"``.
    """
    token = _VALUES_ONLY.set(True)
    try:
        yield
    finally:
        _VALUES_ONLY.reset(token)


@dataclass
class _Entry:
    layer: str
    kind: str
    quant: QuantInfo | None = None
    stats: Any = None  # TensorStats (full pass) or Moments (pass 1)
    int_stats: Any = None
    counts: list[int] | None = None
    int_counts: list[int] | None = None
    edges: list[float] | None = None
    int_edges: list[float] | None = None
    values: list[torch.Tensor] | None = None


class Sink:
    """Collects tensors from hooks or ONNX outputs; ``add`` never raises past its caller's guard."""

    def __init__(
        self,
        bins: int,
        keep: Collection[str] | None,
        keep_values: bool,
        progress: Progress | None = None,
        total: int | None = None,
    ) -> None:
        self.bins = bins
        self.keep = None if keep is None else set(keep)
        self.keep_values = keep_values
        self.progress = progress
        self.total = total
        self.phase = PASS_FULL
        self.entries: dict[str, _Entry] = {}
        self.ws = fs.Workspace()
        self._seen: dict[int, tuple[weakref.ref, int, tuple[int, ...], str]] = {}
        self._done = 0
        self.values_only = _VALUES_ONLY.get()

    def start_batch(self, phase: str) -> None:
        self.phase = phase
        self._seen.clear()

    def _wanted(self, name: str, layer: str) -> bool:
        return self.keep_values and (self.keep is None or name in self.keep or layer in self.keep)

    def add(
        self,
        name: str,
        layer: str,
        kind: str,
        x: torch.Tensor,
        quant: QuantInfo | None = None,
        owned: bool = False,
    ) -> None:
        """Record tensor ``x`` under ``name`` (statistics computed here, on ``x``'s device).

        ``owned``: ``x`` is a fresh CPU tensor nothing else will write to (an ONNX Runtime
        output), so kept values share its memory instead of copying it.
        """
        if self.values_only:
            self._add_values(name, layer, kind, x, quant, owned)
            return
        entry = self.entries.get(name)
        if entry is None:
            entry = self.entries[name] = _Entry(layer, kind, quant)
        if self.phase != PASS_HIST and self._wanted(name, layer):
            entry.values = (entry.values or []) + [_kept(x, owned)]
        with fs.one_thread():
            self._add(entry, name, x, quant)
        self._done += 1
        if self.progress is not None:
            self.progress(self._done, self.total, name)

    def _add_values(
        self,
        name: str,
        layer: str,
        kind: str,
        x: torch.Tensor,
        quant: QuantInfo | None,
        owned: bool,
    ) -> None:
        if self.phase != PASS_HIST and self._wanted(name, layer):
            entry = self.entries.get(name)
            if entry is None:
                entry = self.entries[name] = _Entry(layer, kind, quant)
            if x.is_quantized:
                entry.quant = torch_quant_info(x)
            entry.stats = entry.stats or _stats.TensorStats(
                shape=tuple(x.shape), dtype=_stats.dtype_name(x), numel=x.numel(), min=None,
                max=None, mean=None, std=None, zeros=0, nan=0, posinf=0, neginf=0, counts=[],
                edges=[], note="values only: no statistics were computed",
            )  # fmt: skip
            entry.values = (entry.values or []) + [_kept(x, owned)]
        self._done += 1
        if self.progress is not None:
            self.progress(self._done, self.total, name)

    def _add(self, entry: _Entry, name: str, x: torch.Tensor, quant: QuantInfo | None) -> None:
        real = x
        if x.is_quantized:  # torch.ao quantized tensors: integer view + real view
            quant = quant or torch_quant_info(x)
            entry.quant = quant
            real = x.dequantize()
            x = x.int_repr()
        elif quant is not None:
            real = dequantize(x, quant)
        if quant is not None:
            self._record(entry, x, integer=True, quant=quant)
        self._record(entry, real, integer=False, quant=None)

    def _record(
        self, e: _Entry, x: torch.Tensor, *, integer: bool, quant: QuantInfo | None
    ) -> None:
        if integer and quant is not None:
            nb, rng = int_bins(quant, self.bins)
            if self.phase == PASS_HIST:
                return  # the integer view's range is fixed: pass 1 already binned it
            s = _stats.compute(x, nb, hist_range=rng)
            if self.phase == PASS_FULL:
                e.int_stats = s
            else:
                m = fs.Moments.from_stats(s)
                e.int_stats = m if e.int_stats is None else e.int_stats.merge(m)
                e.int_counts = _add(e.int_counts, s.counts)
                e.int_edges = s.edges
            return
        if self.phase == PASS_FULL:
            e.stats = self._cached(x) or fs.stats(x, self.bins, self.ws)
            self._remember(x, e.stats)
        elif self.phase == PASS_MOMENTS:
            m = fs.moments(x, self.ws)
            e.stats = m if e.stats is None else e.stats.merge(m)
        else:
            m = e.stats
            if m.count:
                counts, edges = fs.histogram(x, self.bins, m.min, m.max, m.fast, self.ws)
            else:  # nothing finite anywhere: the reference's empty histogram
                counts = [0] * self.bins
                edges = _stats.histogram_edges(None, None, self.bins).tolist()
            e.counts = _add(e.counts, counts)
            e.edges = edges

    # A container often returns its last child's output tensor itself (nn.Sequential, residual
    # blocks): the same object, unmodified since (same version counter), has the same statistics.
    def _cached(self, x: torch.Tensor) -> Any:
        hit = self._seen.get(id(x))
        if hit is None:
            return None
        ref, version, shape, _ = hit
        try:
            if ref() is x and x._version == version and tuple(x.shape) == shape:
                return hit[3]
        except RuntimeError:  # inference tensors have no version counter
            return None
        return None

    def _remember(self, x: torch.Tensor, s: Any) -> None:
        try:
            self._seen[id(x)] = (weakref.ref(x), x._version, tuple(x.shape), s)
        except (RuntimeError, TypeError):
            pass

    def activations(self) -> dict[str, Activation]:
        """The finished activations (after the last pass)."""
        import torch

        out: dict[str, Activation] = {}
        for name, e in self.entries.items():
            if e.stats is None:
                continue
            st = e.stats
            if isinstance(st, fs.Moments):
                st = st.to_stats(e.counts or [0] * self.bins, e.edges or [])
            ist = e.int_stats
            if isinstance(ist, fs.Moments):
                ist = ist.to_stats(e.int_counts or [], e.int_edges or [])
            if e.quant is not None and ist is not None:
                st.dtype = f"{ist.dtype}→float32"
            values = None
            if e.values:
                values = e.values[0] if len(e.values) == 1 else _cat(torch, e.values)
            out[name] = Activation(name, e.layer, e.kind, st, ist, e.quant, values)
        return out


def _kept(x: torch.Tensor, owned: bool) -> torch.Tensor:
    """The values to keep: ``x`` itself when owned (on CPU), else a CPU copy (a module's output
    can be changed in place after its hook has run)."""
    if owned and x.device.type == "cpu":
        return x.detach()
    return x.detach().to("cpu", copy=True)


def _cat(torch: Any, parts: list[Any]) -> Any:
    try:
        return torch.cat(parts)
    except RuntimeError:  # outputs without a batch axis: keep the first batch's
        return parts[0]


def _add(a: list[int] | None, b: list[int]) -> list[int]:
    return list(b) if a is None else [x + y for x, y in zip(a, b, strict=True)]
