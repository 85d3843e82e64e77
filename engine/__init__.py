"""layerscope's headless engine: load models, compute statistics, capture activations, train.

``import engine`` is cheap: torch, ONNX and Lightning are imported only when a function that needs
them runs, so the TUI can paint its first frame before any of them loads.
"""

from __future__ import annotations

import importlib
from typing import Any

from layerscope.engine.errors import LayerscopeError

# Public name → module that defines it; resolved on first use (PEP 562). Even the model classes:
# building their dataclasses costs the app's first frame ~2.5 ms.
_LAZY = {
    "Layer": "layerscope.engine.model",
    "Model": "layerscope.engine.model",
    "QuantInfo": "layerscope.engine.model",
    "TensorRef": "layerscope.engine.model",
    "load_model": "layerscope.engine.loaders",
    "sniff": "layerscope.engine.loaders",
    "discover": "layerscope.engine.discover",
    "TensorStats": "layerscope.engine.stats",
    "compute_stats": "layerscope.engine.inspect",
    "tensor_stats": "layerscope.engine.inspect",
}

__all__ = ["LayerscopeError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'layerscope.engine' has no attribute {name!r}")
