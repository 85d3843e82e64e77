"""The activation report: a versioned JSON file of one capture, written atomically.

The schema is documented in docs/report-schema.md. Readers accept every schema version up to
``SCHEMA_VERSION`` and refuse newer ones with a message saying so.
"""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from layerscope.engine.capture.result import CaptureResult
from layerscope.engine.errors import InputError
from layerscope.engine.io import atomic_write_text, dumps, finite_or_str, load_json, write_user_text
from layerscope.engine.model import QuantInfo
from layerscope.engine.stats import TensorStats

SCHEMA = "layerscope.activation-report"
# v2: reports may carry gradients (tensor `grad_stats`, top-level `parameters`,
# `capture.gradients`); v1 files read as reports without them.
SCHEMA_VERSION = 2
DEFAULT_NAME = "activation_report.json"
MAX_REPORT_BYTES = 1024**3  # a report of 100k tensors with 256-bin histograms is ~200 MB


@dataclass
class ReportTensor:
    """One tensor of a report (statistics only; values are never written)."""

    name: str
    layer: str
    kind: str
    stats: TensorStats
    int_stats: TensorStats | None = None
    quant: dict[str, Any] | None = None
    grad_stats: TensorStats | None = None  # of the loss's gradient w.r.t. this output (v2)


@dataclass
class ReportParameter:
    """One parameter's gradient in a gradient capture (v2)."""

    name: str
    layer: str
    kind: str
    grad_stats: TensorStats


@dataclass
class Report:
    """A loaded (or about to be written) activation report."""

    model: dict[str, Any]
    input: dict[str, Any]
    capture: dict[str, Any]
    versions: dict[str, str | None]
    created: str
    tensors: dict[str, ReportTensor] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    not_available: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    path: Path | None = None
    parameters: dict[str, ReportParameter] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": self.schema_version,
            "created": self.created,
            "versions": self.versions,
            "model": self.model,
            "input": self.input,
            "capture": self.capture,
            "tensors": {
                n: {
                    "layer": t.layer,
                    "kind": t.kind,
                    "shape": list(t.stats.shape),
                    "dtype": t.stats.dtype,
                    "stats": _stats_dict(t.stats),
                    "int_stats": _stats_dict(t.int_stats, True) if t.int_stats else None,
                    "quant": t.quant,
                    "grad_stats": _stats_dict(t.grad_stats) if t.grad_stats else None,
                }
                for n, t in self.tensors.items()
            },
            "parameters": {
                n: {
                    "layer": p.layer,
                    "kind": p.kind,
                    "shape": list(p.grad_stats.shape),
                    "dtype": p.grad_stats.dtype,
                    "grad_stats": _stats_dict(p.grad_stats),
                }
                for n, p in self.parameters.items()
            },
            "errors": self.errors,
            "not_available": self.not_available,
        }


def _stats_dict(s: TensorStats, keep_dtype: bool = False) -> dict[str, Any]:
    d = s.to_dict()
    d.pop("shape", None)  # the tensor's shape and dtype sit beside its stats
    if not keep_dtype:
        d.pop("dtype", None)
    return d


def versions() -> dict[str, str | None]:
    """Versions of the packages that shape the numbers (without importing them)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("layerscope", "torch", "onnxruntime", "onnx", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (sorted relative names and bytes)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with f.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def _quant_dict(q: QuantInfo | None) -> dict[str, Any] | None:
    if q is None:
        return None
    return {
        "scale": [float(v) for v in q.scale],
        "zero_point": [int(v) for v in q.zero_point],
        "axis": q.axis,
        "qdtype": q.qdtype,
        "scheme": q.scheme,
    }


def from_capture(result: CaptureResult) -> Report:
    """The report of a capture (model hash computed here: it reads the model file once)."""
    path = result.model_path
    model: dict[str, Any] = {
        "path": None,
        "name": None,
        "format": result.model_format,
        "sha256": None,
    }
    if path is not None and path.exists():
        model.update(path=str(path.resolve()), name=path.name, sha256=file_sha256(path))
    grads = result.gradients
    return Report(
        model=model,
        input=result.input,
        capture={
            "device": result.device,
            "mode": result.mode,
            "bins": result.bins,
            "samples": result.samples,
            "batches": result.batches,
            "passes": result.passes,
            "seconds": round(result.seconds, 4),
            "gradients": result.gradient_target,
        },
        versions=versions(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        tensors={
            n: ReportTensor(
                n,
                a.layer,
                a.kind,
                a.stats,
                a.int_stats,
                _quant_dict(a.quant),
                grads[n].stats if n in grads else None,
            )
            for n, a in result.activations.items()
        },
        parameters={
            n: ReportParameter(n, g.layer, g.kind, g.stats)
            for n, g in result.parameter_gradients.items()
        },
        errors=dict(result.errors),
        not_available=list(result.not_available),
    )


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    atomic_write_text(path, text)


def save(
    report: Report,
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    force_hint: str | None = None,
) -> Path:
    """Write ``report`` as JSON (atomically); returns the path written.

    Never over the report's own model; over an existing file that is not a layerscope file only
    with ``force`` (:func:`layerscope.engine.io.check_user_target`).
    """
    p = Path(path)
    text = dumps(report.to_dict(), indent=1) + "\n"  # no Inf/NaN literals
    write_user_text(p, text, force=force, protect=[report.model.get("path")], force_hint=force_hint)
    report.path = p
    return p


def load(path: str | os.PathLike[str]) -> Report:
    """Read and validate a report; any problem is one ``InputError`` naming the file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"report not found: {p}")
    # Size-capped, and deep nesting or bad bytes are one line too (not a RecursionError).
    d = load_json(p, str(p), MAX_REPORT_BYTES, error=InputError)
    if not isinstance(d, dict) or d.get("schema") != SCHEMA:
        raise InputError(f'{p} is not a layerscope activation report (no "schema": "{SCHEMA}")')
    version = d.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise InputError(f"{p} has an invalid schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise InputError(
            f"{p} uses report schema v{version}, newer than this layerscope reads (v{SCHEMA_VERSION}); "
            "upgrade layerscope"
        )
    try:
        tensors = {n: _tensor(n, t) for n, t in d["tensors"].items()}
        return Report(
            model=dict(d["model"]),
            input=dict(d["input"]),
            capture=dict(d["capture"]),
            versions=dict(d.get("versions", {})),
            created=str(d["created"]),
            tensors=tensors,
            errors=dict(d.get("errors", {})),
            not_available=list(d.get("not_available", [])),
            schema_version=version,
            path=p,
            parameters={n: _parameter(n, t) for n, t in (d.get("parameters") or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(
            f"{p} is a damaged activation report (bad or missing field {exc})"
        ) from None


def _tensor(name: str, t: dict[str, Any]) -> ReportTensor:
    def stats(d: dict[str, Any] | None) -> TensorStats | None:
        if d is None:
            return None
        return _stats({"dtype": t["dtype"], **d, "shape": t["shape"]})

    st = stats(t["stats"])
    if st is None:
        raise KeyError(f"tensors.{name}.stats")
    return ReportTensor(
        name,
        t["layer"],
        t["kind"],
        st,
        stats(t.get("int_stats")),
        t.get("quant"),
        stats(t.get("grad_stats")),
    )


def _parameter(name: str, t: dict[str, Any]) -> ReportParameter:
    g = _stats({"dtype": t["dtype"], **t["grad_stats"], "shape": t["shape"]})
    return ReportParameter(name, t["layer"], t["kind"], g)


def _stats(d: dict[str, Any]) -> TensorStats:
    """Statistics as a report stores them: JSON holds Inf/NaN as "inf"/"-inf"/"nan" strings."""
    for k in ("min", "max", "mean", "std"):
        if k in d:
            d[k] = finite_or_str(d[k])
    if "edges" in d:
        d["edges"] = [finite_or_str(e) for e in d["edges"]]
    return TensorStats.from_dict(d)
