"""What the model predicts for an input batch: the top-k classes per sample, named where the
dataset's classes are known, as the app shows after a capture.

One forward pass of the model (the torch module, or the ONNX Runtime session the capture already
built); no statistics. A model whose output is not one ``N x C`` tensor of class scores gets no
prediction (``[]``), not an error: a regression or detection model is fine to capture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from layerscope.engine.inputs import InputBatch
    from layerscope.engine.model import Model

MAX_SAMPLES = 8  # predictions listed for the first samples of a batch


@dataclass(frozen=True)
class ClassScore:
    """One class of a sample's top k: its index, name (``None`` if unknown) and probability."""

    index: int
    name: str | None
    probability: float  # softmax of the output (if the output already sums to 1, its value)

    @property
    def label(self) -> str:
        return self.name if self.name is not None else f"class {self.index}"


@dataclass(frozen=True)
class SamplePrediction:
    """The top-k classes of one sample, and its true class when the input knows it."""

    sample: int
    top: list[ClassScore]
    truth: str | None = None

    @property
    def correct(self) -> bool | None:
        return None if self.truth is None else self.top[0].label == self.truth

    def line(self) -> str:
        """``#0 (true 3): 3 97% · 8 2% · 5 1%``."""
        truth = f" (true {self.truth})" if self.truth is not None else ""
        tops = " · ".join(f"{c.label} {c.probability:.0%}" for c in self.top)
        return f"#{self.sample}{truth}: {tops}"


def _class_names(batch: InputBatch, classes: int) -> list[str] | None:
    from layerscope.engine.datasets import CIFAR10_CLASSES, DIGITS_CLASSES

    source = (batch.source or "").lower()
    for name, names in (("cifar", CIFAR10_CLASSES), ("digits", DIGITS_CLASSES)):
        if name in source and len(names) == classes:
            return list(names)
    return None


def _forward(model: Model, batch: InputBatch, device: str) -> Any:
    """The model's first output for the batch's first samples, as a NumPy array."""
    import numpy as np
    import torch

    from layerscope.engine.capture import _resolve
    from layerscope.engine.capture import onnx_capture as oc

    x = batch.tensor[:MAX_SAMPLES]
    path, _, module, onnx_key = _resolve(model)
    if module is not None:
        dev = next((p.device for p in module.parameters()), torch.device(device))
        with torch.no_grad():
            out = module(x.to(dev))
        while isinstance(out, (tuple, list)) and out:
            out = out[0]
        if isinstance(out, dict):
            out = out.get("logits", next(iter(out.values()), None))
        return out.detach().float().cpu().numpy() if isinstance(out, torch.Tensor) else None
    g = oc.graph_for(onnx_key, path, device)
    first = g.session.get_outputs()[0].name  # the graph's own outputs come first
    rows = []
    for part in oc.split_for(g, [x]):
        feed = {g.input_name: part.detach().cpu().numpy().astype(np.float32, copy=False)}
        rows.append(g.session.run([first], feed)[0])
    return np.concatenate(rows) if rows else None


def predict(
    model: Model, batch: InputBatch, *, k: int = 3, device: str = "cpu"
) -> list[SamplePrediction]:
    """Top-``k`` classes of the first :data:`MAX_SAMPLES` samples; ``[]`` when the output is not
    ``N x C`` class scores (or the model cannot run)."""
    import numpy as np

    out = _forward(model, batch, device)
    if out is None or out.ndim != 2 or out.shape[1] < 2 or not np.isfinite(out).all():
        return []
    sums = out.sum(axis=1)
    if (out >= 0).all() and np.allclose(sums, 1.0, atol=1e-3):
        probs = out.astype(np.float64)  # already probabilities
    else:
        z = out.astype(np.float64) - out.max(axis=1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    names = _class_names(batch, out.shape[1])
    labels = batch.labels or []
    result = []
    for i, row in enumerate(probs):
        order = np.argsort(-row, kind="stable")[:k]
        top = [ClassScore(int(c), names[c] if names else None, float(row[c])) for c in order]
        truth = None
        if i < len(labels):
            c = int(labels[i])
            truth = names[c] if names and 0 <= c < len(names) else f"class {c}"
        result.append(SamplePrediction(i, top, truth))
    return result
