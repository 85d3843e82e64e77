"""What "export: tensor statistics to JSON" writes: the engine's figures plus where they came from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.model import Model, TensorRef
    from engine.stats import TensorStats


def export_path(folder: Path, model: Model, ref: TensorRef, view: str) -> Path:
    """``<model stem>.<tensor name>.<view>.stats.json`` in ``folder``, safe as a file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", ref.name).strip("_") or "tensor"
    return folder / f"{model.path.stem}.{safe}.{view}.stats.json"


def stats_payload(
    model: Model,
    ref: TensorRef,
    stats: TensorStats,
    *,
    view: str,
    bins: int,
    low: float | None = None,
    high: float | None = None,
    in_range: int | None = None,
) -> dict[str, Any]:
    """A JSON-ready record of one tensor view's statistics (and value range, when one is set)."""
    payload: dict[str, Any] = {
        "model": str(model.path),
        "format": model.format,
        "tensor": ref.name,
        "layer": ref.layer,
        "role": ref.role,
        "view": view,
        "bins": bins,
        "stats": stats.to_dict(),
    }
    if ref.quant is not None:
        q = ref.quant
        payload["quant"] = {
            "qdtype": q.qdtype,
            "scheme": q.scheme,
            "axis": q.axis,
            "scale": [float(s) for s in q.scale],
            "zero_point": [int(z) for z in q.zero_point],
        }
    if low is not None and high is not None:
        payload["range"] = {"low": low, "high": high, "count": in_range}
    return payload
