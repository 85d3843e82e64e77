"""layerscope: see inside neural networks from the terminal.

The documented Python API (``help(layerscope)`` lists it). Importing ``layerscope`` is cheap:
each name below is resolved on first use, and torch, ONNX Runtime and Lightning are imported only
by the functions that need them.

Models and statistics
    load_model(path, *, arch=None, arch_kwargs=None, trust=False, device="cpu") -> Model
    discover(folder)                       model files in a folder, grouped by variant
    tensor_stats(ref, bins=..., ...)       exact statistics and histogram of one tensor
Activations and gradients
    load_input(spec, ...)                  random:N, digits:0-31, cifar10, an image, .npy/.npz
    model_input_shape(model)               the per-sample input shape a model expects
    capture(model, inputs, ...)            per-layer activation (and gradient) statistics
    save_report(report, path) / load_report(path)
    diff(a, b)                             what changed between two reports (paths or reports)
Quantization
    quant_compare(float_model, quantized_model, ...)   per-layer error of a quantized twin
Training
    callbacks(run_dir=...)                 one line in your own Lightning Trainer
    compare_run_dirs(dirs)                 curves and hyperparameters of several runs

Example::

    import layerscope as ls
    model = ls.load_model("models/resnet8.pt")
    batch = ls.load_input("digits:0-31", input_shape=ls.model_input_shape(model))
    report = ls.from_capture(ls.capture(model, batch))
    ls.save_report(report, "digits.json")
    print(ls.diff("before.json", "digits.json").flagged)

The engine behind it lives in ``layerscope.engine`` (see docs/architecture.md); every error is a
:class:`LayerscopeError` with a one-line message.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> (module, attribute); resolved on first use (PEP 562).
_API: dict[str, tuple[str, str]] = {
    "load_model": ("layerscope.engine.loaders", "load_model"),
    "discover": ("layerscope.engine.discover", "discover"),
    "tensor_stats": ("layerscope.engine.inspect", "tensor_stats"),
    "TensorStats": ("layerscope.engine.stats", "TensorStats"),
    "Model": ("layerscope.engine.model", "Model"),
    "TensorRef": ("layerscope.engine.model", "TensorRef"),
    "load_input": ("layerscope.engine.inputs", "load_input"),
    "model_input_shape": ("layerscope.engine.inputs", "model_input_shape"),
    "capture": ("layerscope.engine.capture", "capture"),
    "save_report": ("layerscope.engine.report", "save"),
    "load_report": ("layerscope.engine.report", "load"),
    "from_capture": ("layerscope.engine.report", "from_capture"),
    "diff": ("layerscope.engine.diff", "diff"),
    "quant_compare": ("layerscope.engine.quant_compare", "compare"),
    "callbacks": ("layerscope.engine.training.hook", "callbacks"),
    "compare_run_dirs": ("layerscope.engine.usecases.run_compare", "compare_run_dirs"),
    "LayerscopeError": ("layerscope.engine.errors", "LayerscopeError"),
}

__all__ = sorted(_API)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attr = _API[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # resolved once
        return value
    raise AttributeError(f"module 'layerscope' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
