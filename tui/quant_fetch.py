"""What the Quantization view asks the engine for, beyond ``compare`` itself: twins and histograms.

Plain functions, called from the screen's thread workers; torch and ONNX load inside them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import LayerscopeError

if TYPE_CHECKING:
    from engine.discover import ModelGroup
    from engine.model import Model
    from engine.stats import TensorStats


def find_twins(path: Path, groups: list[ModelGroup]) -> list[tuple[Path, Path]]:
    """The engine's (float, quantized) pairs that ``path`` belongs to, its own pairs first."""
    target = path.resolve()
    out: list[tuple[Path, Path]] = []
    for group in groups:
        for f, q in group.pairs():
            if target in (f.path.resolve(), q.path.resolve()):
                out.append((f.path, q.path))
    return out


def no_twin_message(path: Path, groups: list[ModelGroup] | None = None) -> str:
    """Why the Quantization view has nothing to show, and how to give it something."""
    from engine.discover import split_variant

    target = path.resolve()
    for group in groups or []:
        if any(e.path.resolve() == target for e in group.entries) and group.pairs():
            # Variants sit beside it, but the engine paired each quantized file with another.
            pairs = ", ".join(f"{f.name} ⇄ {q.name}" for f, q in group.pairs())
            return (
                f"{path.name} is not paired with a quantized variant; {pairs} are "
                "(⇄ in the picker): open one of those and press Q."
            )
    base, _ = split_variant(path.stem)
    return (
        f"{path.name} has no float/quantized twin in {path.parent}/: put its variant beside "
        f"it, named like {base}_int8{path.suffix}."
    )


def activation_histograms(
    run: tuple[Model, Model, Any], float_name: str, quant_name: str, bins: int, cancel: Any
) -> tuple[TensorStats, TensorStats]:
    """Float and dequantized histograms of one compared activation, over one shared range.

    Both models are run again on the comparison's inputs, keeping just this tensor's values
    (the comparison keeps none). The engine does all the counting; this only chains its calls
    and belongs beside ``engine.quant_compare.weight_histograms`` once the engine offers it.
    """
    from engine.capture import capture
    from engine.quant import dequantize
    from engine.stats import compute

    fm, qm, batch = run
    if batch is None:
        raise LayerscopeError("no inputs ran: activations were not compared", "No activations")
    fa = capture(fm, batch, mode="tensors", keep=[float_name], cancel=cancel).activations
    qa = capture(qm, batch, mode="tensors", keep=[quant_name], cancel=cancel).activations
    f, q = fa.get(float_name), qa.get(quant_name)
    if f is None or q is None or f.values is None or q.values is None:
        missing = float_name if f is None or f.values is None else quant_name
        raise LayerscopeError(f"{missing} could not be captured again", "No activation values")
    q_values = dequantize(q.values, q.quant) if q.quant is not None else q.values
    ends = [v for v in (f.stats.min, q.stats.min, f.stats.max, q.stats.max) if v is not None]
    span = (min(ends), max(ends)) if ends else None  # the engine's own figures, for one range
    return compute(f.values, bins, hist_range=span), compute(q_values, bins, hist_range=span)
