"""What a capture returns: per tensor statistics (and values), errors, and what could not be seen."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerscope.engine.errors import Cancelled
from layerscope.engine.model import QuantInfo
from layerscope.engine.stats import TensorStats

if TYPE_CHECKING:
    import torch


class CaptureCancelled(Cancelled):
    """The caller set the cancel event; nothing was kept."""


@dataclass(eq=False)
class Activation:
    """One captured tensor.

    Attributes:
        name: unique tensor name: the module path (``layer1.conv1``), ``name.0`` / ``name.logits``
            for parts of tuple/list/dict outputs, ``name#2`` for a module's second call; for ONNX
            the value's name in the graph. The model's own output is ``(output)`` for torch models.
        layer: the layer that produced it (module path or ONNX node name).
        kind: module class (``Conv2d``) or ONNX operator type (``QLinearConv``).
        stats: statistics of the real values (dequantized for quantized integer tensors).
        int_stats: statistics of the stored integers, binned one integer per bin for 8-bit types.
        quant: scale/zero point when the tensor holds quantized integers.
        values: the tensor itself, on CPU in its own dtype, in ``"tensors"`` mode for kept layers.
    """

    name: str
    layer: str
    kind: str
    stats: TensorStats
    int_stats: TensorStats | None = None
    quant: QuantInfo | None = None
    values: torch.Tensor | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.stats.shape

    @property
    def dtype(self) -> str:
        return self.stats.dtype


@dataclass(eq=False)
class CaptureResult:
    """Everything one capture saw.

    Attributes:
        activations: by tensor name, in the order they were produced.
        errors: tensor or layer name → one-line reason its statistics could not be computed.
        not_available: what this model format cannot show, and why (one sentence each).
        input: the input's description (``InputBatch.to_dict()``), or a minimal one for raw tensors.
        gradients: by tensor name (the activation's), the gradient of the loss with respect to
            that output; empty unless captured with a gradient target.
        parameter_gradients: by parameter name (``fc.weight``; ``layer`` is the module path).
        gradient_target: ``{loss, target, reduction}`` of a gradient capture, else ``None``.
    """

    model_path: Path | None
    model_format: str
    device: str
    mode: str
    bins: int
    input: dict[str, Any]
    activations: dict[str, Activation] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    not_available: list[str] = field(default_factory=list)
    samples: int = 0
    batches: int = 0
    passes: int = 0
    seconds: float = 0.0
    gradients: dict[str, Activation] = field(default_factory=dict)
    parameter_gradients: dict[str, Activation] = field(default_factory=dict)
    gradient_target: dict[str, Any] | None = None

    def for_layer(self, layer: str) -> list[Activation]:
        """The activations a layer produced (several for tuple outputs or repeated calls)."""
        return [a for a in self.activations.values() if a.layer == layer]

    def summary(self) -> str:
        """One status line, e.g. ``42 tensors captured · input: CIFAR-10 test[17] (label=cat)``."""
        parts = [f"{len(self.activations)} tensors captured"]
        if self.errors:
            parts.append(f"{len(self.errors)} failed")
        parts.append(f"input: {self.input.get('description', '?')}")
        return " · ".join(parts)
