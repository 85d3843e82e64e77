"""The one JSON schema of a model and its tensor statistics (``layerscope.tensor-stats``).

``layerscope inspect --json`` prints it (the whole tree, or one tensor with ``--layer``), and the
app's "export: tensor statistics to JSON" writes the one-tensor document with the view, the bin
count and the value range the screen shows. Layout (``docs/report-schema.md``)::

    {"model": model_record, "layer": "...", "tensor": tensor_record,
     "view": "float" | "int", "bins": N, "range": {"low", "high", "count"}?}
    tensor_record = {"name", "role", "shape", "dtype", "quant": QuantInfo | null, "stats"?}
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from layerscope.engine.model import Model, TensorRef
    from layerscope.engine.stats import TensorStats

SCHEMA = "layerscope.tensor-stats"  # the stamp of an exported file (layerscope.engine.io.write_user_json)


def model_record(model: Model) -> dict[str, Any]:
    """Where the figures come from: path, format, sizes and the loader's metadata."""
    meta = {k: v for k, v in model.metadata.items() if k != "activation_quant"}
    return {
        "path": str(model.path),
        "format": model.format,
        "params": model.param_count,
        "size_bytes": model.size_bytes,
        "tensors": sum(1 for _ in model.tensors()),
        "layers": len(model.layers) - 1,
        "runnable": model.runnable,
        "quantized": model.is_quantized,
        "metadata": json.loads(json.dumps(meta, default=str)),
    }


def tensor_record(ref: TensorRef, stats: TensorStats | None) -> dict[str, Any]:
    """One tensor: name, role, shape, dtype, quantization parameters and (if any) statistics."""
    d: dict[str, Any] = {
        "name": ref.name,
        "role": ref.role,
        "shape": list(ref.shape),
        "dtype": ref.dtype,
        "quant": ref.quant.to_dict() if ref.quant else None,
    }
    if stats is not None:
        d["stats"] = stats.to_dict()
    return d


def tensor_document(
    model: Model,
    ref: TensorRef,
    stats: TensorStats,
    *,
    view: str,
    bins: int,
    layer: str | None = None,
    low: float | None = None,
    high: float | None = None,
    in_range: int | None = None,
) -> dict[str, Any]:
    """One tensor view's statistics with its model (and value range, when one is set)."""
    doc: dict[str, Any] = {
        "model": model_record(model),
        "layer": ref.layer if layer is None else layer,
        "tensor": tensor_record(ref, stats),
        "view": view,
        "bins": bins,
    }
    if low is not None and high is not None:
        doc["range"] = {"low": low, "high": high, "count": in_range}
    return doc


def export_path(folder: Path, model: Model, ref: TensorRef, view: str) -> Path:
    """``<model stem>.<tensor name>.<view>.stats.json`` in ``folder``, safe as a file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", ref.name).strip("_") or "tensor"
    return folder / f"{model.path.stem}.{safe}.{view}.stats.json"
