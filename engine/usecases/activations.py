"""A capture session: one capture (model, input, result) plus exact answers computed later.

A capture in stats mode holds every tensor's statistics at one bin count, and no values. Another
bin count re-runs the capture on the same input at that count (one forward pass gives every layer
again, so each bin count costs one pass). A value-range count must be exact, and a histogram can
only approximate it, so it re-runs the model in tensors mode keeping that one tensor and has the
engine count its values. Answers are cached, so going back to a layer is instant.

The app's activation bar keeps one session per capture and asks it from worker threads; a script
can do the same: ``CaptureSession.run(model, "digits:3", ...).fetch(layer, name, 20, ...)``.

A session run with ``gradients=True`` and a ``target`` (``layerscope.engine.capture.gradients``) also holds
every output's and parameter's gradient: ``view="grad"`` answers for them, with the same bins and
exact value-range counts (re-runs include the backward pass).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from layerscope.engine.capture import Activation, CaptureResult
    from layerscope.engine.inputs import InputBatch
    from layerscope.engine.model import Model
    from layerscope.engine.report import Report
    from layerscope.engine.stats import TensorStats

Progress = Callable[[int, int | None, str], None]


@dataclass
class ActivationAnswer:
    """Statistics of one captured activation at ``bins`` bins (and its count in a value range).

    ``view`` is ``"int"`` for the stored integers of a quantized activation (``qdtype``),
    ``"grad"`` for the gradient of an output (by its tensor name) or of a parameter (by its
    name, ``fc.weight``); ``has_int`` / ``has_grad`` say whether those views exist.
    """

    layer: str
    name: str
    kind: str
    bins: int
    stats: TensorStats
    in_range: int | None = None
    view: str = "float"
    qdtype: str = ""
    has_int: bool = False
    has_grad: bool = False
    note: str = ""  # what the name does not say (fused_name_note)


# ONNX exporters name an output after its node: /relu/Relu_output_0 is the Relu's.
_ONNX_OUTPUT = re.compile(r"/([A-Za-z][A-Za-z0-9]*)_output_\d+$")


def fused_name_note(name: str, kind: str) -> str:
    """Say so when an ONNX tensor's name is another op's than the node that now computes it:
    ONNX Runtime's quantizer fuses Conv+Relu and the Conv output keeps the Relu's name, so
    ``/relu/Relu_output_0`` holds the Conv's output (before the ReLU). ``""`` otherwise."""
    m = _ONNX_OUTPUT.search(name)
    if m is None or not kind or m.group(1).lower() == kind.lower():
        return ""
    op = m.group(1)
    return f"named after a {op} fused away: this is the {kind} output (before the {op})"


class CaptureSession:
    """One capture plus answers computed later; safe to use from several threads."""

    def __init__(
        self,
        model: Model,
        batch: InputBatch,
        result: CaptureResult,
        device: str,
        target: object = None,
    ) -> None:
        self.model = model
        self.batch = batch
        self.result = result
        self.device = device
        # A gradient session re-runs with the same target (forward and backward).
        self.gradients = result.gradient_target is not None
        self.target = target
        self._by_bins: dict[int, CaptureResult] = {result.bins: result}
        self._in_range: dict[tuple[str, str, float, float], int] = {}
        self._lock = threading.Lock()

    @classmethod
    def run(
        cls,
        model: Model,
        spec: str,
        *,
        seed: int,
        bins: int,
        device: str,
        progress: Progress | None,
        cancel: threading.Event,
        gradients: bool = False,
        target: object = None,
        data_dir: str | None = None,
    ) -> CaptureSession:
        """Load the input ``spec`` and capture every layer's activations (call from a worker);
        with ``gradients`` every output's and parameter's gradient for ``target`` too.
        ``data_dir``: the CIFAR-10 python folder (or its parent) for ``cifar10:`` specs."""
        from layerscope.engine.capture import capture
        from layerscope.engine.inputs import load_input, model_input_shape

        batch = load_input(  # model: its input names and recorded normalisation
            spec, input_shape=model_input_shape(model), seed=seed, data_dir=data_dir, model=model
        )
        result = capture(
            model, batch, bins=bins, device=device, progress=progress, cancel=cancel,
            gradients=gradients, target=target if gradients else None,
        )  # fmt: skip
        return cls(model, batch, result, device, target if gradients else None)

    def _grad_kwargs(self) -> dict[str, object]:
        return {"gradients": True, "target": self.target} if self.gradients else {}

    @staticmethod
    def _grad_of(result: CaptureResult, name: str) -> Activation | None:
        return result.gradients.get(name) or result.parameter_gradients.get(name)

    def for_layer(self, layer: str) -> list[Activation]:
        """The tensors ``layer`` produced (several for tuple outputs or repeated calls)."""
        return self.result.for_layer(layer)

    def cached(
        self,
        layer: str,
        name: str,
        bins: int,
        low: float | None,
        high: float | None,
        view: str = "float",
    ) -> ActivationAnswer | None:
        """The answer if nothing needs computing (cheap: safe on a UI thread), else ``None``.

        ``view="int"`` shows a quantized activation's stored integers (one bin per integer for
        8-bit types, so the bin count does not apply); other activations fall back to floats.
        """
        return self._answer(layer, name, bins, low, high, view)

    def _answer(
        self, layer: str, name: str, bins: int, low: float | None, high: float | None, view: str
    ) -> ActivationAnswer | None:
        first = self.result.activations.get(name)
        grad = self._grad_of(self.result, name)
        if first is None and grad is None:
            return None
        has_int = first is not None and first.int_stats is not None
        if view == "grad" and grad is None or view == "int" and not has_int or first is None:
            view = "grad" if first is None else "float"
        result = self.result if view == "int" else self._by_bins.get(bins)
        if result is None:
            return None
        in_range = None
        if low is not None and high is not None:
            in_range = self._in_range.get((name, view, low, high))
            if in_range is None:  # the exact count needs a re-run
                return None
        if view == "grad":
            got = self._grad_of(result, name)
            if got is None:
                return None
            return ActivationAnswer(
                layer, name, got.kind, bins, got.stats, in_range, "grad", "", has_int, True
            )
        if name not in result.activations:
            return None
        act = result.activations[name]
        stats = act.int_stats if view == "int" and act.int_stats is not None else act.stats
        qdtype = act.quant.qdtype if act.quant is not None else ""
        return ActivationAnswer(
            layer, name, act.kind, bins, stats, in_range, view, qdtype, has_int, grad is not None,
            fused_name_note(name, act.kind),
        )  # fmt: skip

    def fetch(
        self,
        layer: str,
        name: str,
        bins: int,
        low: float | None,
        high: float | None,
        cancel: threading.Event,
        view: str = "float",
    ) -> ActivationAnswer | None:
        """Compute what ``cached`` lacked (call from a worker); ``None`` if the tensor vanished
        or ``cancel`` was set while waiting for an earlier re-run."""
        from layerscope.engine.capture import capture

        first = self.result.activations.get(name)
        if view == "grad" and self._grad_of(self.result, name) is None:
            view = "float"
        if view == "int" and (first is None or first.int_stats is None):
            view = "float"
        with self._lock:  # one re-run at a time; a request that waited may find its answer cached
            if cancel.is_set():  # superseded while waiting for the lock
                return None
            if view != "int" and bins not in self._by_bins:
                self._by_bins[bins] = capture(
                    self.model, self.batch, bins=bins, device=self.device, cancel=cancel,
                    **self._grad_kwargs(),
                )  # fmt: skip
            if low is not None and high is not None:
                key = (name, view, low, high)
                if key not in self._in_range:
                    self._in_range[key] = self._count(name, low, high, view, cancel)
            return self._answer(layer, name, bins, low, high, view)

    def _count(self, name: str, low: float, high: float, view: str, cancel: threading.Event) -> int:
        """Exact count of ``name``'s values in [low, high], from a re-run that keeps that tensor."""
        from layerscope.engine.capture import capture
        from layerscope.engine.errors import InputError
        from layerscope.engine.quant import dequantize
        from layerscope.engine.stats import count_in_range

        kept = capture(
            self.model, self.batch, mode="tensors", keep=[name], bins=1,
            device=self.device, cancel=cancel,
            **(self._grad_kwargs() if view == "grad" else {}),
        )  # fmt: skip
        act = self._grad_of(kept, name) if view == "grad" else kept.activations.get(name)
        if act is None or act.values is None:
            raise InputError(f"{name}: the re-run to count values in a range did not produce it")
        values = act.values
        if act.quant is not None and view == "float":  # count the real values the view shows
            values = dequantize(values, act.quant)
        return count_in_range(values, low, high)

    def report(self) -> Report:
        """The capture as an ``layerscope.engine.report.Report`` (hashes the model file: call from a worker)."""
        from layerscope.engine.report import from_capture

        return from_capture(self.result)
