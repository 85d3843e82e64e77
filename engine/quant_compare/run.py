"""Running both models on the same inputs and reading the activations a comparison needs.

The activations come from ``layerscope.engine.capture`` in ``"tensors"`` mode (ONNX Runtime with every
intermediate value as an output; forward hooks for PyTorch), keeping only the values compared.
Integer activations (QOperator graphs, torch quantized tensors) are dequantized here. TorchScript
modules cannot be hooked, so for them only the model's output is read.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from layerscope.engine.errors import InputError, LayerscopeError
from layerscope.engine.model import Model
from layerscope.engine.quant_compare.result import ComparisonCancelled


class Runner:
    """Runs one model on a batch through ``layerscope.engine.capture`` and returns its real-valued
    ``(output, {activation name: array})`` for the ``wanted`` activations."""

    def __init__(self, model: Model, wanted: Sequence[str]) -> None:
        import torch

        self.model = model
        self.wanted = [w for w in dict.fromkeys(wanted) if w]
        self.note = ""
        if model.onnx is not None:
            self.outputs = [model.onnx.graph.output[0].name]
        else:
            from layerscope.engine.capture import torch_capture

            # capture's name for a module's own output (its first part, for tuple outputs)
            base = getattr(torch_capture, "OUTPUT", "")
            self.outputs = [base, f"{base}.0" if base else "0"]
            if isinstance(model.module, torch.jit.ScriptModule):
                self.note = f"{model.path.name} is TorchScript: its layers cannot be hooked"

    def __call__(
        self, batch: np.ndarray, cancel: threading.Event | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        import torch

        from layerscope.engine.capture import CaptureCancelled, capture
        from layerscope.engine.capture.sink import values_only

        if self.model.onnx is not None:
            _check_shape(self.model, batch)
        try:
            with values_only():  # only the values are compared: no statistics, nothing else kept
                res = capture(
                    self.model,
                    torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)),
                    mode="tensors",
                    keep={*self.wanted, *self.outputs},
                    cancel=cancel,
                    bins=1,
                )
        except CaptureCancelled:
            raise ComparisonCancelled("comparison cancelled") from None
        acts = {n: _real(res.activations[n]) for n in self.wanted if n in res.activations}
        out = next((res.activations[o] for o in self.outputs if o in res.activations), None)
        if out is None:
            raise LayerscopeError(f"{self.model.path.name}: its output could not be read")
        return _real(out), acts


def _check_shape(model: Model, batch: np.ndarray) -> None:
    """Name the mismatch in our words before ONNX Runtime reports it in its own."""
    for v in model.metadata.get("inputs", [])[:1]:
        dims = v.get("shape") or []
        if dims and (
            len(dims) != batch.ndim
            or any(
                isinstance(d, int) and d and d != n
                for d, n in zip(dims[1:], batch.shape[1:], strict=True)
            )
        ):
            want = "×".join(str(d) if isinstance(d, int) and d else "N" for d in dims)
            raise InputError(
                f"inputs of shape {tuple(batch.shape)} do not fit {model.path.name}, "
                f"whose input {v.get('name')!r} is {want}"
            )


def _real(act: Any) -> np.ndarray:
    """A captured value as float32 reals: dequantized when it holds quantized integers."""

    v = act.values
    if v.is_quantized:
        v = v.dequantize()
    elif act.quant is not None and not v.is_floating_point():
        from layerscope.engine.quant import dequantize

        v = dequantize(v, act.quant)
    return v.detach().float().cpu().numpy()


def runner(model: Model, wanted: Sequence[str]) -> Runner | None:
    """A runner for ``model``, or ``None`` when it cannot run (weights without an architecture)."""
    return Runner(model, wanted) if model.runnable else None


def input_shape(*models: Model) -> tuple[int, ...] | None:
    """A one-sample input shape (``(1, 3, 32, 32)``) from the first model that declares one."""
    from layerscope.engine.inputs import model_input_shape

    for m in models:
        shape = model_input_shape(m)
        if shape:
            return (1, *shape)
    return None


def random_inputs(shape: tuple[int, ...], count: int = 4, seed: int = 0) -> list[np.ndarray]:
    """One batch of ``count`` seeded standard-normal samples (one run per model, not ``count``)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((count, *shape[1:])).astype(np.float32)]


MAX_BATCH = 64  # samples per run: every compared activation of a batch is held at once


def as_batches(inputs: Any) -> list[np.ndarray]:
    """One array/tensor (a batch) or a sequence of them → float32 NumPy batches of ≤ 64 samples."""
    items = [inputs] if hasattr(inputs, "shape") or hasattr(inputs, "tensor") else list(inputs)
    out = []
    for x in items:
        if hasattr(x, "tensor"):  # an layerscope.engine.inputs.InputBatch
            x = x.tensor
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 0:
            raise InputError("an input batch must have at least one dimension")
        out.extend(x[i : i + MAX_BATCH] for i in range(0, max(len(x), 1), MAX_BATCH))
    if not out:
        raise InputError("no inputs given")
    return out
