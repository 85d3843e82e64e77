"""What a float-vs-quantized comparison returns: plain dataclasses, JSON-ready via ``to_dict``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from layerscope.engine.errors import Cancelled, LayerscopeError
from layerscope.engine.quant import ErrorFigures, _json_float

DEFAULT_THRESHOLD_DB = 20.0  # flag layers below this SQNR: the CLI's, the app's and compare()'s
RANDOM_SAMPLES = 8  # seeded random samples drawn when the inputs are plain "random"


class ComparisonCancelled(Cancelled):
    """The caller set the cancel event."""


class NothingToCompareError(LayerscopeError):
    """The two models share no conv/linear layer."""

    title = "Nothing to compare"


SCHEMA_VERSION = 1


@dataclass
class TensorComparison:
    """One float tensor against its quantized counterpart.

    Attributes:
        float_name / quant_name: the tensor (weight) or activation names on each side.
        shape: the compared shape (``[out, in, ...]`` for weights).
        figures: SQNR, max abs error, cosine; for activations pooled over all samples
            (SQNR from the summed signal and noise energies, cosine averaged per sample).
        samples: input samples the activation figures cover (0 for weights).
        folded_bn: name of the BatchNorm folded into the float side to match the quantized one.
        exclude_node: for activations beyond the conv/linear layers, the ONNX node computing it,
            as ``quantize_static(nodes_to_exclude=...)`` names it.
        flagged: an activation beyond the conv/linear layers below the threshold.
        origin: flagged, and every compared activation feeding it is above the threshold:
            the drop starts here (see :mod:`.blame`).
    """

    float_name: str
    quant_name: str
    shape: tuple[int, ...]
    figures: ErrorFigures
    samples: int = 0
    folded_bn: str | None = None
    exclude_node: str | None = None
    flagged: bool = False
    origin: bool = False

    @property
    def sqnr_db(self) -> float:
        return self.figures.sqnr_db

    def to_dict(self) -> dict[str, Any]:
        return {
            "float": self.float_name,
            "quant": self.quant_name,
            "shape": list(self.shape),
            **self.figures.to_dict(),
            "samples": self.samples,
            "folded_bn": self.folded_bn,
            "exclude_node": self.exclude_node,
            "flagged": self.flagged,
            "origin": self.origin,
        }


@dataclass
class LayerComparison:
    """One matched conv/linear layer.

    Attributes:
        float_layer / quant_layer: layer names in each model (module name, ONNX node name).
        op_types: the operator/module types, float side then quantized side.
        matched_by: ``"name"`` (same normalised name) or ``"position"`` (order of conv/linear ops).
        weight / bias / activation: the comparisons that could be made.
        exclude_node: the ONNX node name that ``quantize_static(nodes_to_exclude=...)`` takes
            to keep this layer in float (``None`` when the quantized model is not ONNX).
        flagged: the weight or activation SQNR is below the threshold.
        origin: flagged by its own weights, or by an activation whose inputs were still above
            the threshold: the drop starts here (see :mod:`.blame`).
    """

    index: int
    float_layer: str
    quant_layer: str
    op_types: tuple[str, str]
    matched_by: str
    weight: TensorComparison | None = None
    bias: TensorComparison | None = None
    activation: TensorComparison | None = None
    exclude_node: str | None = None
    flagged: bool = False
    origin: bool = False
    # The matched ops themselves, for ``compared_weights``; not part of the JSON.
    float_op: Any = field(default=None, repr=False, compare=False)
    quant_op: Any = field(default=None, repr=False, compare=False)

    @property
    def worst_sqnr_db(self) -> float:
        """The lowest of the weight and activation SQNRs (``inf`` when none was measured);
        ``-inf`` when either side holds NaN/Inf, so such a layer sorts first."""
        vals = [c.sqnr_db for c in (self.weight, self.activation) if c is not None]
        if any(c.figures.nonfinite for c in (self.weight, self.activation) if c is not None):
            return -math.inf
        return min(vals, default=math.inf)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "float_layer": self.float_layer,
            "quant_layer": self.quant_layer,
            "op_types": list(self.op_types),
            "matched_by": self.matched_by,
            "weight": self.weight.to_dict() if self.weight else None,
            "bias": self.bias.to_dict() if self.bias else None,
            "activation": self.activation.to_dict() if self.activation else None,
            "worst_sqnr_db": _json_float(self.worst_sqnr_db),
            "exclude_node": self.exclude_node,
            "flagged": self.flagged,
            "origin": self.origin,
        }


@dataclass
class OutputComparison:
    """The models' outputs on the same inputs.

    Attributes:
        figures: SQNR/cosine of the quantized output against the float one, over all samples.
        top1_agreement: fraction of samples whose arg-max class agrees (``None`` unless the
            output is ``[batch, classes]``).
        samples: how many input samples were run.
    """

    figures: ErrorFigures
    top1_agreement: float | None
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.figures.to_dict(), "top1_agreement": self.top1_agreement,
                "samples": self.samples}  # fmt: skip


@dataclass
class Comparison:
    """Float vs quantized, layer by layer.

    Attributes:
        layers: the matched conv/linear layers, in the quantized model's order.
        activations: further activations present in both graphs (ONNX vs ONNX, PyTorch vs
            PyTorch by name), beyond the conv/linear group outputs.
        output: the output comparison, ``None`` when either model cannot run.
        unmatched_float / unmatched_quant: conv/linear layers that found no partner.
        notes: why something could not be compared (one line each).
    """

    float_path: str
    quant_path: str
    threshold_db: float
    layers: list[LayerComparison] = field(default_factory=list)
    activations: list[TensorComparison] = field(default_factory=list)
    output: OutputComparison | None = None
    unmatched_float: list[str] = field(default_factory=list)
    unmatched_quant: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Exclusion name → position in the quantized graph, to list exclusions in graph order.
    node_order: dict[str, int] = field(default_factory=dict, repr=False)

    def worst_first(self) -> list[LayerComparison]:
        """Layers sorted by their lowest SQNR, worst first (ties keep graph order)."""
        return sorted(self.layers, key=lambda c: (c.worst_sqnr_db, c.index))

    @property
    def flagged(self) -> list[LayerComparison]:
        return [c for c in self.layers if c.flagged]

    def suggest_exclude(self) -> list[str]:
        """ONNX node names to keep in float: the nodes of every flagged layer and activation.

        Everything below the threshold is listed, downstream layers included: an activation
        whose range one channel dominates stays coarse until every node reading it is float.
        """
        names = [c.exclude_node for c in self.flagged if c.exclude_node]
        names += [a.exclude_node for a in self.activations if a.flagged and a.exclude_node]
        order = self.node_order
        return sorted(dict.fromkeys(names), key=lambda n: order.get(n, len(order)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "float": self.float_path,
            "quant": self.quant_path,
            "threshold_db": self.threshold_db,
            "layers": [c.to_dict() for c in self.worst_first()],
            "activations": [a.to_dict() for a in self.activations],
            "output": self.output.to_dict() if self.output else None,
            "unmatched_float": self.unmatched_float,
            "unmatched_quant": self.unmatched_quant,
            "suggest_exclude": self.suggest_exclude(),
            "notes": self.notes,
        }
