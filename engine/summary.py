"""A big model at a glance: per-dtype totals, the largest tensors, and a NaN/Inf scan.

``summarize`` reads only what the loader already knows (headers), so it is instant however large
the model is. ``scan`` then reads each floating-point tensor once, in chunks, to count NaN and Inf;
it is a generator that yields progress and stops early when its ``threading.Event`` is set, so the
CLI (a progress bar), the tests and a TUI worker share the same path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerscope.engine import stats as _stats
from layerscope.engine.model import Model, TensorRef

_FLOAT_PREFIXES = ("float", "bfloat", "complex")


@dataclass
class DtypeTotal:
    """How many tensors, elements and stored bytes one dtype accounts for."""

    dtype: str
    tensors: int = 0
    elements: int = 0
    bytes: int = 0


@dataclass
class TensorBrief:
    """One tensor as the summary lists it (largest tensors, tensors with NaN/Inf)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    elements: int
    bytes: int
    source: str = ""
    nan: int = 0
    posinf: int = 0
    neginf: int = 0

    @classmethod
    def of(cls, ref: TensorRef) -> TensorBrief:
        return cls(ref.name, tuple(ref.shape), ref.dtype, ref.numel, ref.nbytes, ref.source)

    def to_dict(self, nonfinite: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "elements": self.elements,
            "bytes": self.bytes,
        }
        if nonfinite:
            d.update(nan=self.nan, posinf=self.posinf, neginf=self.neginf)
        return d


@dataclass
class ModelSummary:
    """Headers-only facts about a model, plus what a NaN/Inf scan found (once one ran).

    Attributes:
        dtypes: totals per dtype, most bytes first.
        largest: the biggest tensors by element count.
        scanned: floating-point tensors the scan has read so far.
        to_scan: floating-point tensors there are to read.
        nonfinite: tensors holding NaN or ±Inf, in model order.
    """

    path: Path
    format: str
    params: int
    size_bytes: int
    tensors: int
    layers: int
    dtypes: list[DtypeTotal]
    largest: list[TensorBrief]
    metadata: dict[str, Any] = field(default_factory=dict)
    scanned: int = 0
    to_scan: int = 0
    nonfinite: list[TensorBrief] = field(default_factory=list)
    scan_started: bool = False

    @property
    def scan_complete(self) -> bool:
        return self.scan_started and self.scanned == self.to_scan

    def to_dict(self) -> dict[str, Any]:
        scan: dict[str, Any] | None = None
        if self.scan_started:
            scan = {
                "complete": self.scan_complete,
                "tensors_scanned": self.scanned,
                "tensors_to_scan": self.to_scan,
                "tensors": [t.to_dict(nonfinite=True) for t in self.nonfinite],
            }
        return {
            "path": str(self.path),
            "format": self.format,
            "params": self.params,
            "size_bytes": self.size_bytes,
            "tensors": self.tensors,
            "layers": self.layers,
            "shards": self.metadata.get("shards"),
            "config": self.metadata.get("config") or None,
            "dtypes": [vars(d).copy() for d in self.dtypes],
            "largest": [t.to_dict() for t in self.largest],
            "nonfinite": scan,
        }


@dataclass(frozen=True)
class ScanProgress:
    """Where a scan stands: tensors and bytes read so far, and the tensor being read next."""

    done: int
    total: int
    bytes_done: int
    bytes_total: int
    current: str


def is_float(ref: TensorRef) -> bool:
    """Whether the stored values can hold NaN/Inf (quantized integers cannot)."""
    return ref.quant is None and ref.dtype.startswith(_FLOAT_PREFIXES)


def summarize(model: Model, top: int = 10) -> ModelSummary:
    """Per-dtype totals and the ``top`` largest tensors, from metadata alone (reads no tensor)."""
    totals: dict[str, DtypeTotal] = {}
    refs = list(model.tensors())
    for ref in refs:
        t = totals.setdefault(ref.dtype, DtypeTotal(ref.dtype))
        t.tensors += 1
        t.elements += ref.numel
        t.bytes += ref.nbytes
    largest = sorted(refs, key=lambda r: (-r.numel, r.name))[: max(top, 0)]
    return ModelSummary(
        path=model.path,
        format=model.format,
        params=sum(r.numel for r in refs),
        size_bytes=sum(r.nbytes for r in refs),
        tensors=len(refs),
        layers=len(model.layers) - 1,
        dtypes=sorted(totals.values(), key=lambda d: (-d.bytes, d.dtype)),
        largest=[TensorBrief.of(r) for r in largest],
        metadata=dict(model.metadata),
        to_scan=sum(1 for r in refs if is_float(r)),
    )


def scan(
    model: Model,
    summary: ModelSummary,
    *,
    cancel: threading.Event | None = None,
    device: str = "cpu",
    chunk_elems: int = _stats.DEFAULT_CHUNK,
) -> Iterator[ScanProgress]:
    """Count NaN/±Inf in every floating-point tensor, one tensor in memory at a time.

    Fills ``summary.nonfinite`` and ``summary.scanned`` as it goes and yields after each tensor
    (and once before the first). Setting ``cancel`` stops it between tensors; what was found so
    far stays in ``summary``, which then reports the scan as incomplete.
    """
    refs = [r for r in model.tensors() if is_float(r)]
    summary.scan_started = True
    summary.scanned = 0
    summary.to_scan = len(refs)
    summary.nonfinite.clear()
    total_bytes = sum(r.nbytes for r in refs)
    done_bytes = 0
    for i, ref in enumerate(refs):
        yield ScanProgress(i, len(refs), done_bytes, total_bytes, ref.name)
        if cancel is not None and cancel.is_set():
            return
        values = ref.load()
        if device != "cpu":
            values = values.to(device)
        nan, posinf, neginf = count_nonfinite(values, chunk_elems=chunk_elems)
        del values  # release the bytes before the next tensor is read
        if nan or posinf or neginf:
            brief = TensorBrief.of(ref)
            brief.nan, brief.posinf, brief.neginf = nan, posinf, neginf
            summary.nonfinite.append(brief)
        summary.scanned = i + 1
        done_bytes += ref.nbytes
    yield ScanProgress(len(refs), len(refs), done_bytes, total_bytes, "")


def count_nonfinite(
    values: Any, *, chunk_elems: int = _stats.DEFAULT_CHUNK
) -> tuple[int, int, int]:
    """``(nan, +inf, -inf)`` in a floating-point tensor, chunk by chunk, on its device."""
    import math

    import torch

    flat = values.reshape(-1)
    nan = posinf = neginf = 0
    for start in range(0, flat.numel(), chunk_elems):
        c = flat[start : start + chunk_elems]
        if c.element_size() == 1:  # float8 has no isfinite kernel; float32 holds it exactly
            c = c.float()
        if bool(torch.isfinite(c).all()):  # the common case: one fused pass, no counting
            continue
        nan += int(torch.isnan(c).sum())
        posinf += int((c == math.inf).sum())
        neginf += int((c == -math.inf).sum())
    return nan, posinf, neginf
