"""Activation and output comparison: run both models on the same inputs, pool the error figures.

Figures are pooled over every sample: SQNR from the summed signal and noise energies (the SQNR of
all samples laid end to end, so one near-silent sample cannot dominate), cosine averaged per
sample, max abs error over all of them.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from layerscope.engine.errors import InputError
from layerscope.engine.model import Model
from layerscope.engine.onnx_graph import GraphIndex
from layerscope.engine.quant import ErrorFigures, sqnr_db
from layerscope.engine.quant_compare import run as _run
from layerscope.engine.quant_compare.ops import ACTIVATIONS as _ACTIVATIONS
from layerscope.engine.quant_compare.result import (
    ComparisonCancelled,
    OutputComparison,
    TensorComparison,
)

if TYPE_CHECKING:
    from layerscope.engine.quant_compare.match import Pair
    from layerscope.engine.quant_compare.result import Comparison

# Suffixes quantizers append to an activation's name, best first: the dequantized value is what
# the next layer of the quantized model really sees.
_QUANT_SUFFIXES = ("_DequantizeLinear_Output", "_quantized", "_QuantizeLinear_Input", "")
_SKIP_PRODUCERS = {"Constant", "Shape", "QuantizeLinear", "DynamicQuantizeLinear", "Cast"}


class _Scratch:
    """Float64 work arrays reused by every ``_Acc.add`` of a comparison: a fresh array of an
    activation's size costs more in page faults than the arithmetic done on it."""

    def __init__(self) -> None:
        self._flat: list[np.ndarray] = []

    def arrays(self, shape: tuple[int, int]) -> list[np.ndarray]:
        """Four C-ordered ``shape`` arrays, each at the start of its own allocation."""
        n = shape[0] * shape[1]
        if not self._flat or self._flat[0].size < n:
            self._flat = [np.empty(n) for _ in range(4)]
        return [f[:n].reshape(shape) for f in self._flat]


@dataclass
class _Acc:
    """Running sums for one compared tensor."""

    signal: float = 0.0
    noise: float = 0.0
    max_abs: float = 0.0
    cos_sum: float = 0.0
    cos_n: int = 0
    samples: int = 0
    shape: tuple[int, ...] = ()
    mismatch: str = ""
    nonfinite: int = 0

    def add(self, x: np.ndarray, y: np.ndarray, scratch: _Scratch | None = None) -> None:
        if x.shape != y.shape:
            self.mismatch = f"shapes differ: {x.shape} vs {y.shape}"
            return
        self.shape = tuple(x.shape[1:])
        x2, y2 = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
        # C order on both sides (what capture gives): then every sum runs in the same order
        if not (
            x2.flags.c_contiguous
            and y2.flags.c_contiguous
            and self._add_finite(x2, y2, scratch or _Scratch())
        ):
            self._add_masked(x, y)

    def _add_finite(self, x: np.ndarray, y: np.ndarray, scratch: _Scratch) -> bool:
        """``_add_masked``'s sums for all-finite values, bit for bit, in fewer passes and no
        new arrays: ``a * a`` is shared by the signal and the per-sample norms
        (``np.linalg.norm``'s own formula), and there is no NaN/Inf mask. ``False`` (nothing
        added) when a value is not finite: the signal and noise sums are finite exactly when
        every value is (float32 squares cannot overflow float64)."""
        a, b, buf, d = scratch.arrays(x.shape)
        np.copyto(a, x)  # float64 first: the ufuncs below then run without casting
        np.copyto(b, y)
        signal = float(np.multiply(a, a, out=buf).sum())
        na = np.sqrt(buf.sum(axis=1))
        noise = float(np.multiply(np.subtract(a, b, out=d), d, out=buf).sum())
        if not (math.isfinite(signal) and math.isfinite(noise)):
            return False
        max_abs = float(np.abs(d, out=d).max()) if d.size else 0.0
        nb = np.sqrt(np.multiply(b, b, out=buf).sum(axis=1))
        dots = np.multiply(a, b, out=buf).sum(axis=1)
        self._add_sums(signal, noise, max_abs, na, nb, dots)
        return True

    def _add_sums(
        self, signal: float, noise: float, max_abs: float, na: np.ndarray, nb: np.ndarray,
        dots: np.ndarray,
    ) -> None:  # fmt: skip
        self.signal += signal
        self.noise += noise
        self.max_abs = max(self.max_abs, max_abs)
        ok = (na > 0) & (nb > 0)
        self.cos_sum += float((dots[ok] / (na[ok] * nb[ok])).sum())
        self.cos_sum += float(((na == 0) & (nb == 0)).sum())  # two silent samples agree fully
        self.cos_n += int(ok.sum() + ((na == 0) & (nb == 0)).sum())
        self.samples += na.shape[0]

    def _add_masked(self, x: np.ndarray, y: np.ndarray) -> None:
        """The reference: NaN/Inf positions counted, then left out of the sums."""
        a = x.reshape(x.shape[0], -1).astype(np.float64)
        b = y.reshape(y.shape[0], -1).astype(np.float64)
        bad = ~(np.isfinite(a) & np.isfinite(b))
        if bad.any():  # counted, then left out of the sums (as error_figures does)
            self.nonfinite += int(bad.sum())
            a, b = np.where(bad, 0.0, a), np.where(bad, 0.0, b)
        d = a - b
        self._add_sums(
            float((a * a).sum()), float((d * d).sum()), float(np.abs(d).max()) if d.size else 0.0,
            np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1), (a * b).sum(axis=1),
        )  # fmt: skip

    def figures(self) -> ErrorFigures:
        return ErrorFigures(
            sqnr_db=sqnr_db(math.sqrt(self.signal), math.sqrt(self.noise)),
            max_abs_error=self.max_abs,
            cosine=self.cos_sum / self.cos_n if self.cos_n else None,
            exact=self.noise == 0.0 and not self.nonfinite,
            nonfinite=self.nonfinite,
        )


def _base_name(name: str) -> tuple[str, int]:
    """``x_DequantizeLinear_Output`` → (``x``, rank of the suffix; lower is better)."""
    for rank, suffix in enumerate(_QUANT_SUFFIXES):
        if suffix and name.endswith(suffix):
            return name[: -len(suffix)], rank
    return name, len(_QUANT_SUFFIXES) - 1


def onnx_activation_pairs(fm: Model, qm: Model, taken: set[str]) -> list[tuple[str, str]]:
    """Intermediate values present in both ONNX graphs, by name once quantizer suffixes are off."""
    f_graph, q_graph = GraphIndex(fm.onnx), GraphIndex(qm.onnx)
    outputs = f_graph.outputs | q_graph.outputs
    f_vals = [o for n in f_graph.nodes if n.op_type not in _SKIP_PRODUCERS for o in n.output]
    act_quant = qm.metadata.get("activation_quant", {})
    best: dict[str, tuple[int, str]] = {}
    for n in q_graph.nodes:
        if n.op_type in _SKIP_PRODUCERS:
            continue
        for o in n.output:
            base, rank = _base_name(o)
            if o.endswith("_quantized") and o not in act_quant:
                continue  # integers without a known scale cannot be compared with reals
            if base not in best or rank < best[base][0]:
                best[base] = (rank, o)
    f_consumers = f_graph.consumers
    pairs = []
    for name in f_vals:
        if name in outputs or name in taken or name not in best:
            continue
        q_name = best[name][1]
        # QOperator fuses an activation into the op before it (QLinearAdd + Relu): when the
        # activation's output is gone from the quantized graph, compare after it on both sides.
        nxt = f_consumers.get(name, [])
        if len(nxt) == 1 and nxt[0].op_type in _ACTIVATIONS and nxt[0].output[0] not in best:
            name = nxt[0].output[0]
        if q_name not in taken and name not in taken:
            pairs.append((name, q_name))
    return pairs


def make_batches(
    fm: Model, qm: Model, inputs: Any, num_inputs: int, seed: int
) -> list[np.ndarray] | None:
    """The given inputs as float32 batches, or seeded random samples of the declared shape."""
    if inputs is not None:
        return _run.as_batches(inputs)
    shape = _run.input_shape(fm, qm)
    return None if shape is None else _run.random_inputs(shape, num_inputs, seed)


def compare_activations(
    fm: Model,
    qm: Model,
    pairs: list[Pair],
    result: Comparison,
    batches: list[np.ndarray],
    progress: Callable[[str, int, int], None] | None,
    cancel: threading.Event | None,
) -> None:
    """Fill ``result``'s layer activations, extra activations and output comparison."""
    layer_pairs = [(p.float_op.output, p.quant_op.output) for p in pairs]
    extra: list[tuple[str, str]] = []
    if fm.onnx is not None and qm.onnx is not None:
        taken = {n for pair in layer_pairs for n in pair if n}
        extra = onnx_activation_pairs(fm, qm, taken)
    f_run = _run.runner(fm, [f for f, _ in layer_pairs + extra if f])
    q_run = _run.runner(qm, [q for _, q in layer_pairs + extra if q])
    for r, m in ((f_run, fm), (q_run, qm)):
        if r is None:
            result.notes.append(f"{m.path.name} cannot run (weights only): no activations")
        elif r.note:
            result.notes.append(r.note + "; its activations are not compared")
    if f_run is None or q_run is None:
        return
    accs = {pair: _Acc() for pair in layer_pairs + extra}
    total = sum(len(b) for b in batches)
    out_acc, agree, n_top1 = _Acc(), 0, 0
    scratch = _Scratch()  # one set of work arrays for every sum of the comparison
    for i, batch in enumerate(batches):
        if cancel is not None and cancel.is_set():
            raise ComparisonCancelled("comparison cancelled")
        f_out, f_acts = f_run(batch, cancel)
        q_out, q_acts = q_run(batch, cancel)
        if f_out.shape != q_out.shape:
            raise InputError(
                f"the outputs differ in shape: {fm.path.name} gives {f_out.shape}, "
                f"{qm.path.name} gives {q_out.shape}; are they the same network?"
            )
        out_acc.add(f_out, q_out, scratch)
        if f_out.ndim == 2:
            agree += int((f_out.argmax(1) == q_out.argmax(1)).sum())
            n_top1 += f_out.shape[0]
        for (f_name, q_name), acc in accs.items():
            if f_name in f_acts and q_name in q_acts:
                acc.add(f_acts[f_name], q_acts[q_name], scratch)
        if progress:  # in samples: one big batch still shows how far it got
            progress("activations", sum(len(b) for b in batches[: i + 1]), total)
    result.output = OutputComparison(
        out_acc.figures(), agree / n_top1 if n_top1 else None, out_acc.samples
    )
    for layer, pair in zip(result.layers, layer_pairs, strict=True):
        acc = accs[pair]
        if acc.samples:
            layer.activation = TensorComparison(
                pair[0], pair[1], acc.shape, acc.figures(), samples=acc.samples
            )
        elif acc.mismatch:
            result.notes.append(f"activation of {layer.quant_layer} not compared: {acc.mismatch}")
    producer = _quant_producers(qm) if extra else {}
    for pair in extra:
        acc = accs[pair]
        if acc.samples and _is_float_activation(pair[0]):
            tc = TensorComparison(pair[0], pair[1], acc.shape, acc.figures(), samples=acc.samples)
            tc.exclude_node = producer.get(_base_name(pair[1])[0]) or producer.get(pair[1])
            result.activations.append(tc)


def _quant_producers(qm: Model) -> dict[str, str]:
    """Value name → the float node name (``_quant`` suffix off) of the op computing it in the
    quantized graph; Q/DQ nodes are skipped, as excluding them is not what keeps a value float."""
    from layerscope.engine.quant_compare.ops import exclude_name

    skip = _SKIP_PRODUCERS | {"DequantizeLinear"}
    return {
        value: exclude_name(node.name)
        for value, node in GraphIndex(qm.onnx).producer.items()
        if node.name and node.op_type not in skip
    }


def _is_float_activation(name: str) -> bool:
    return not re.search(r"(_shape|_scale|_zero_point)$", name)
