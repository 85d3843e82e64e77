"""Float vs quantized: the inputs, the comparison from a spec, twins, and a row's histograms.

``layerscope quant-compare`` and the app's Quantization view both call :func:`run_comparison`
(the CLI on the main thread, the app in a worker with ``progress`` and ``cancel``), so the two
load the models, draw the inputs and apply the defaults (``RANDOM_SAMPLES``,
``DEFAULT_THRESHOLD_DB``) the same way.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerscope.engine.errors import LayerscopeError
from layerscope.engine.quant_compare.result import DEFAULT_THRESHOLD_DB, RANDOM_SAMPLES
from layerscope.engine.training.paths import CONFIG_FILE

if TYPE_CHECKING:
    from layerscope.engine.discover import ModelGroup
    from layerscope.engine.inputs import InputBatch
    from layerscope.engine.model import Model
    from layerscope.engine.quant_compare import Comparison, LayerComparison
    from layerscope.engine.stats import TensorStats

__all__ = [
    "DEFAULT_THRESHOLD_DB",
    "RANDOM_SAMPLES",
    "ComparisonRun",
    "ComparisonSpec",
    "activation_histograms",
    "comparison_inputs",
    "find_twins",
    "model_data_spec",
    "no_twin_message",
    "quant_variant",
    "run_comparison",
    "weight_histograms",
]

Progress = Callable[[str, int, int], None]


@dataclass
class ComparisonSpec:
    """What to compare and how: the CLI's arguments, the app's fields.

    Attributes:
        inputs: an input spec as for capture (``random``, ``digits:0-31``, ``image.png``...).
        max_samples: at most this many samples; plain ``random`` draws ``RANDOM_SAMPLES``.
        weights_only: do not run the models (weights compared only).
        suggest_exclude: the caller wants ONNX node names to keep in float: refuse a quantized
            model that is not ONNX before running anything.
        shapeless_random: what plain ``random`` does when neither model declares its input
            shape: ``"error"`` (the CLI: say so) or ``"weights"`` (the app: compare the weights
            and note why).
    """

    float_path: Path
    quant_path: Path
    inputs: str = "random"
    max_samples: int | None = None
    seed: int = 0
    data_dir: str | None = None
    normalize: str | None = None
    threshold_db: float = DEFAULT_THRESHOLD_DB
    weights_only: bool = False
    arch: str | None = None
    arch_kwargs: dict[str, Any] | None = None
    trust: bool = False
    device: str = "cpu"
    suggest_exclude: bool = False
    shapeless_random: str = "error"


@dataclass
class ComparisonRun:
    """A finished comparison with what it ran: the models and the input batch (``None``:
    weights only), kept so a row's activation histograms re-run exactly the same inputs."""

    comparison: Comparison
    float_model: Model
    quant_model: Model
    batch: InputBatch | None

    @property
    def inputs_description(self) -> str:
        return self.batch.description if self.batch is not None else ""


def comparison_inputs(
    spec: ComparisonSpec, float_model: Model, quant_model: Model
) -> InputBatch | None:
    """The input batch, shaped for the models (the quantized one's declared shape first).

    ``None`` when ``spec.weights_only``, or for plain ``random`` without a known input shape
    when ``spec.shapeless_random == "weights"``.
    """
    from layerscope.engine.inputs import load_input, model_input_shape

    if spec.weights_only:
        return None
    shape = model_input_shape(quant_model) or model_input_shape(float_model)
    text = spec.inputs.strip()
    if shape is None and text == "random" and spec.shapeless_random == "weights":
        return None  # compare() compares the weights and notes why
    n = spec.max_samples
    if n is None and text.split(":")[0] == "random":
        n = RANDOM_SAMPLES
    return load_input(
        text,
        input_shape=shape,
        data_dir=spec.data_dir,
        max_samples=n,
        seed=spec.seed,
        normalize=spec.normalize,
        model=float_model,  # what its training recorded (normalisation) applies by default
    )


def run_comparison(
    spec: ComparisonSpec,
    *,
    loaded: Sequence[Model] = (),
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    on_loaded: Callable[[Model, Model], None] | None = None,
) -> ComparisonRun:
    """Load both models (reusing those of ``loaded``, e.g. the one open in the app), draw the
    inputs and compare.

    ``progress`` gets ``("loading models", 0, 0)`` first, then what ``compare`` reports.
    ``on_loaded`` is called with the float and quantized models once both are loaded.

    Raises:
        LayerscopeError: a bad threshold, a model that cannot be loaded, inputs that do not fit.
    """
    import layerscope.engine.quant_compare as qc  # compare looked up at call time: tests replace it
    from layerscope.engine.loaders import load_model

    if not math.isfinite(spec.threshold_db):
        raise LayerscopeError(f"--threshold must be a finite number of dB, got {spec.threshold_db}")
    if progress is not None:
        progress("loading models", 0, 0)

    def load(path: Path) -> Model:
        for model in loaded:
            if model.path.resolve() == Path(path).resolve():
                return model
        return load_model(
            path, arch=spec.arch, arch_kwargs=spec.arch_kwargs, trust=spec.trust, device=spec.device
        )

    fm, qm = load(spec.float_path), load(spec.quant_path)
    if on_loaded is not None:
        on_loaded(fm, qm)
    if spec.suggest_exclude and qm.onnx is None:
        raise LayerscopeError(
            f"--suggest-exclude names ONNX nodes for quantize_static(nodes_to_exclude=...); "
            f"{qm.path.name} is {qm.format}, not ONNX"
        )
    if not spec.weights_only:  # untrusted TorchScript: its weights only, or trust to run it
        from layerscope.engine.loaders.torchscript_meta import require_trust

        require_trust(fm)
        require_trust(qm)
    batch = comparison_inputs(spec, fm, qm)
    result = qc.compare(
        fm,
        qm,
        batch,
        threshold_db=spec.threshold_db,
        activations=not spec.weights_only,
        progress=progress,
        cancel=cancel,
    )
    return ComparisonRun(result, fm, qm, batch)


def model_data_spec(path: Path) -> str | None:
    """An input spec of the data ``path`` was trained on, when its folder says so: the demo's
    ``demo_manifest.json`` or a run folder's ``config.yaml`` (digits only: CIFAR-10 needs its
    folder). ``None`` when unknown: the caller falls back to random inputs."""
    import yaml

    from layerscope.engine.io import load_json

    folder = Path(path).parent
    dataset = None
    try:
        if (folder / "demo_manifest.json").is_file():
            dataset = load_json(folder / "demo_manifest.json", "demo manifest", 1 << 20)["dataset"]
        elif (folder / CONFIG_FILE).is_file():  # a training run's folder
            config = yaml.safe_load((folder / CONFIG_FILE).read_text(encoding="utf-8"))
            dataset = (config.get("data") or {}).get("kind", "digits")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, LayerscopeError):
        return None  # no usable hint is not an error: random inputs it is
    except yaml.YAMLError:
        return None
    return DIGITS_SAMPLE if dataset == "digits" else None


DIGITS_SAMPLE = "digits:0-31"  # enough samples for a verdict, quick on a CPU


# -- twins -----------------------------------------------------------------------------------


def find_twins(path: Path, groups: list[ModelGroup]) -> list[tuple[Path, Path]]:
    """The (float, quantized) pairs of ``layerscope.engine.discover`` that ``path`` belongs to."""
    target = path.resolve()
    out: list[tuple[Path, Path]] = []
    for group in groups:
        for f, q in group.pairs():
            if target in (f.path.resolve(), q.path.resolve()):
                out.append((f.path, q.path))
    return out


def no_twin_message(path: Path, groups: list[ModelGroup] | None = None) -> str:
    """Why there is nothing to compare ``path`` with, and how to give it something."""
    from layerscope.engine.discover import split_variant

    target = path.resolve()
    for group in groups or []:
        if any(e.path.resolve() == target for e in group.entries) and group.pairs():
            # Variants sit beside it, but discover paired each quantized file with another.
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


def quant_variant(path: Path) -> str:
    """The variant tag of a quantized file's name (``int8`` for ``resnet8_int8.onnx``), as
    ``layerscope.engine.discover`` reads it; ``""`` for a name without one."""
    from layerscope.engine.discover import split_variant

    variant = split_variant(path.stem)[1]
    return "" if variant == "float" else variant


# -- one compared tensor's histograms ----------------------------------------------------------


def weight_histograms(layer: LayerComparison, bins: int = 50) -> tuple[TensorStats, TensorStats]:
    """``TensorStats`` of the float and the dequantized weight exactly as compared (BN folded),
    over one shared range, so the two can be drawn side by side or overlaid bin for bin."""
    from layerscope.engine.quant_compare import compared_weights
    from layerscope.engine.stats import compute

    fw, qw = compared_weights(layer)
    lo = min(float(fw.min()), float(qw.min())) if fw.numel() else 0.0
    hi = max(float(fw.max()), float(qw.max())) if fw.numel() else 0.0
    return compute(fw, bins, hist_range=(lo, hi)), compute(qw, bins, hist_range=(lo, hi))


def activation_histograms(
    run: ComparisonRun, float_name: str, quant_name: str, bins: int, cancel: Any = None
) -> tuple[TensorStats, TensorStats]:
    """Float and dequantized histograms of one compared activation, over one shared range.

    Both models run again on the comparison's inputs, keeping just this tensor's values (the
    comparison keeps none). The weight's counterpart is :func:`weight_histograms`.
    """
    from layerscope.engine.capture import capture
    from layerscope.engine.quant import dequantize
    from layerscope.engine.stats import compute

    if run.batch is None:
        raise LayerscopeError("no inputs ran: activations were not compared", "No activations")
    fm, qm, batch = run.float_model, run.quant_model, run.batch
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
