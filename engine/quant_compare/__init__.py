"""Float vs quantized, layer by layer: where did quantization hurt?

``compare(float_model, quant_model, inputs)`` pairs the conv/linear layers of the two models
(across quantizer renamings and across PyTorch ↔ ONNX, see :mod:`.match`), then measures

- **weights**: SQNR and max abs error of the dequantized weight against the float one, after
  folding a BatchNorm into the float conv where the quantized graph has it folded;
- **activations**: SQNR and cosine similarity of each layer's fused-group output on the inputs;
- **output**: top-1 agreement and SQNR of the final output.

It is a plain synchronous function, so the app runs it in a thread worker: ``progress`` is called
with (stage, done, total) and setting ``cancel`` stops it between steps.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from layerscope.engine.errors import LayerscopeError
from layerscope.engine.loaders.torchscript_meta import require_trust
from layerscope.engine.model import Model
from layerscope.engine.onnx_graph import GraphIndex
from layerscope.engine.quant import error_figures
from layerscope.engine.quant_compare import activations as _acts
from layerscope.engine.quant_compare.blame import mark_origins
from layerscope.engine.quant_compare.match import Pair, match
from layerscope.engine.quant_compare.ops import BatchNorm, Op, exclude_name, model_ops
from layerscope.engine.quant_compare.result import (
    DEFAULT_THRESHOLD_DB,
    RANDOM_SAMPLES,
    Comparison,
    ComparisonCancelled,
    LayerComparison,
    NothingToCompareError,
    OutputComparison,
    TensorComparison,
)

Progress = Callable[[str, int, int], None]

__all__ = [
    "Comparison",
    "ComparisonCancelled",
    "LayerComparison",
    "NothingToCompareError",
    "OutputComparison",
    "TensorComparison",
    "compare",
    "compared_weights",
]


def compare(
    float_model: Model | str | Path,
    quant_model: Model | str | Path,
    inputs: Any = None,
    *,
    threshold_db: float = DEFAULT_THRESHOLD_DB,
    num_inputs: int = RANDOM_SAMPLES,
    seed: int = 0,
    activations: bool = True,
    arch: str | None = None,
    trust: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Comparison:
    """Compare a float model with its quantized version.

    Args:
        float_model / quant_model: loaded models or paths (loaded with ``arch``/``trust``).
        inputs: a batch (array, tensor or ``layerscope.engine.inputs.InputBatch``) or a sequence of
            them; ``None`` for ``num_inputs`` seeded random samples of the declared input shape.
        threshold_db: layers whose weight or activation SQNR is below this are flagged.
        activations: also run both models (activations and output); weights only if False.
        progress: called with (stage, done, total) as the work advances: ``("weights", layers
            done, layers)``, then ``("activations", samples done, samples)``.
        cancel: when set, the comparison stops with :class:`ComparisonCancelled`.

    Raises:
        NothingToCompareError: no conv/linear layer of one model matches one of the other.
        LayerscopeError: a model cannot be loaded or refuses the inputs.
    """
    from layerscope.engine.loaders import load_model

    if not math.isfinite(threshold_db):
        raise LayerscopeError(
            f"the SQNR threshold must be a finite number of dB, got {threshold_db}"
        )
    fm = float_model if isinstance(float_model, Model) else load_model(float_model, arch=arch, trust=trust)  # fmt: skip
    qm = quant_model if isinstance(quant_model, Model) else load_model(quant_model, arch=arch, trust=trust)  # fmt: skip
    if fm.is_quantized and not qm.is_quantized:
        raise LayerscopeError(
            f"{fm.path.name} is quantized and {qm.path.name} is not: "
            "give the float model first, then the quantized one"
        )
    for m in (fm, qm) if activations else ():
        require_trust(m)  # an untrusted TorchScript archive is compared by its weights only
    batches = _acts.make_batches(fm, qm, inputs, num_inputs, seed) if activations else None
    example = batches[0][:1] if batches else None
    f_ops, q_ops = model_ops(fm, example), model_ops(qm, example)
    if not f_ops or not q_ops:
        which = fm if not f_ops else qm
        raise NothingToCompareError(
            f"{which.path.name} has no convolution or linear layer with stored weights to compare"
        )
    pairs, left_f, left_q = match(f_ops, q_ops)
    if not pairs:
        raise NothingToCompareError(
            f"no conv/linear layer of {fm.path.name} matches one of {qm.path.name} by name, "
            "position or weight shape: are they the same network?"
        )
    result = Comparison(
        float_path=str(fm.path), quant_path=str(qm.path), threshold_db=threshold_db,
        unmatched_float=[o.layer for o in left_f], unmatched_quant=[o.layer for o in left_q],
    )  # fmt: skip
    total = len(pairs)
    for i, pair in enumerate(pairs):
        _check(cancel)
        result.layers.append(_layer(i, pair, qm))
        if progress:
            progress("weights", i + 1, total)
    if batches:
        _acts.compare_activations(fm, qm, pairs, result, batches, progress, cancel)
    elif activations:
        result.notes.append(
            "activations not compared: neither model declares its input shape; give inputs"
        )
    for layer in result.layers:
        layer.flagged = layer.worst_sqnr_db < threshold_db
    for act in result.activations:
        act.flagged = act.sqnr_db < threshold_db or act.figures.nonfinite > 0
    mark_origins(result, fm)
    if qm.onnx is not None:
        result.node_order = {
            exclude_name(n.name): i for i, n in enumerate(GraphIndex(qm.onnx).nodes) if n.name
        }
    return result


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ComparisonCancelled("comparison cancelled")


def _layer(index: int, pair: Pair, qm: Model) -> LayerComparison:
    f, q = pair.float_op, pair.quant_op
    lc = LayerComparison(
        index=index, float_layer=f.layer, quant_layer=q.layer, op_types=(f.op_type, q.op_type),
        matched_by=pair.matched_by, exclude_node=q.node if qm.onnx is not None else None,
        float_op=f, quant_op=q,
    )  # fmt: skip
    fw, fb, qw, qb = _aligned(f, q)
    folded = f.bn.name if f.bn is not None and q.bn is None else None
    lc.weight = TensorComparison(
        f.weight.name, q.weight.name, tuple(fw.shape), error_figures(fw, qw), folded_bn=folded
    )
    if fb is not None and qb is not None and fb.numel() == qb.numel():
        f_name = f.bias.name if f.bias is not None else f"{f.bn.name if f.bn else ''}(folded)"
        q_name = q.bias.name if q.bias is not None else f"{q.bn.name if q.bn else ''}(folded)"
        lc.bias = TensorComparison(f_name, q_name, tuple(fb.shape), error_figures(fb, qb),
                                   folded_bn=folded)  # fmt: skip
    return lc


def _aligned(f: Op, q: Op) -> tuple[Any, Any, Any, Any]:
    """(float weight, float bias, dequantized weight, bias) in the same form, ready to compare."""
    fw, fb = _weight_bias(f)
    qw, qb = _weight_bias(q)
    # A converter folds BN into the conv before quantizing: fold it into the other side too.
    if f.bn is not None and q.bn is None:
        fw, fb = _fold(fw, fb, f.bn)
    elif q.bn is not None and f.bn is None:
        qw, qb = _fold(qw, qb, q.bn)
    return fw, fb, qw, qb


def compared_weights(layer: LayerComparison) -> tuple[Any, Any]:
    """The float and dequantized weights exactly as compared (``[out, in, ...]``, BN folded)."""
    fw, _, qw, _ = _aligned(layer.float_op, layer.quant_op)
    return fw, qw


def _weight_bias(op: Op) -> tuple[Any, Any]:
    """Real-valued weight in ``[out, in, ...]`` order, and bias (``None`` if absent)."""
    from layerscope.engine.inspect import tensor_values

    w = tensor_values(op.weight, "float").float()
    if op.transposed and w.dim() == 2:
        w = w.t()
    b = tensor_values(op.bias, "float").float().reshape(-1) if op.bias is not None else None
    return w, b


def _fold(w: Any, b: Any, bn: BatchNorm) -> tuple[Any, Any]:
    """Conv/linear followed by BN → one conv/linear, as ONNX Runtime's Conv+BN fusion computes it."""
    import torch

    from layerscope.engine.inspect import tensor_values

    gamma, beta, mean, var = (tensor_values(r).double().reshape(-1) for r in (bn.gamma, bn.beta, bn.mean, bn.var))  # fmt: skip
    factor = gamma / torch.sqrt(var + bn.eps)
    if factor.numel() != w.shape[0]:
        return w, b
    shape = (-1,) + (1,) * (w.dim() - 1)
    w2 = (w.double() * factor.reshape(shape)).float()
    b0 = b.double() if b is not None else torch.zeros_like(mean)
    return w2, ((b0 - mean) * factor + beta).float()
