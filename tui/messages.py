"""Messages the inspector's workers and widgets post: small dataclasses, one line each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from layerscope.engine.discover import ModelGroup
    from layerscope.engine.model import Model, TensorRef
    from layerscope.engine.quant_compare import Comparison
    from layerscope.engine.stats import TensorStats
    from layerscope.engine.usecases.activations import ActivationAnswer


@dataclass
class ModelsListed(Message):
    """The picker's folder was scanned: its model groups."""

    folder: Path
    groups: list[ModelGroup]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # model-like files, and why


@dataclass
class ModelOpenRequested(Message):
    """The user asked to open a model file or sharded folder."""

    path: Path


@dataclass
class ModelLoaded(Message):
    """A model finished loading (headers only; tensors stay lazy)."""

    model: Model
    seconds: float


@dataclass
class BinsChanged(Message):
    """The bins control holds a new, valid bin count."""

    bins: int


@dataclass
class RangeChanged(Message):
    """The value-range inputs changed; ``None`` bounds mean no range."""

    low: float | None
    high: float | None


@dataclass
class ViewChanged(Message):
    """The int/float toggle of a quantized tensor flipped."""

    view: str


@dataclass
class FilterChanged(Message):
    """The layer filter text changed (empty: no filter); ``done``: the user left the filter."""

    text: str
    done: bool = False


@dataclass
class StatsReady(Message):
    """Statistics (and, for quantized tensors, parameters per channel) of one tensor view."""

    ref: TensorRef
    view: str
    bins: int
    stats: TensorStats
    in_range: int | None = None
    quant: dict[str, Any] = field(default_factory=dict)


@dataclass
class LogLine(Message):
    """One formatted line from the loguru sink, for the log pane."""

    text: str
    level: str = "INFO"


@dataclass
class TwinsFound(Message):
    """The (float, quantized) pairs the open model belongs to; empty when it has no twin."""

    path: Path
    pairs: list[tuple[Path, Path]]
    why: str = ""  # when empty: why there is no twin, in one sentence


@dataclass
class QuantProgress(Message):
    """The float-vs-quantized comparison advanced: ``done`` of ``total`` in ``stage``."""

    stage: str
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, QuantProgress)  # only the latest step matters


@dataclass
class ComparisonReady(Message):
    """The float-vs-quantized comparison finished."""

    comparison: Comparison
    inputs: str
    seconds: float


@dataclass
class QuantHistogramsReady(Message):
    """Float and dequantized histograms of one compared tensor, over one shared range."""

    key: str
    float_stats: TensorStats
    quant_stats: TensorStats


# -- training runs (Train and Runs screens) ------------------------------------------------------
@dataclass
class ConfigLoaded(Message):
    """A run config was read and validated: the form fills from it."""

    path: Path
    config: Any  # layerscope.engine.training.config.RunConfig


@dataclass
class RunLaunched(Message):
    """A run process was started in ``run_dir``."""

    run_dir: Path


@dataclass
class RunEvents(Message):
    """Events read from a run's ``events.jsonl`` (a batch when replaying a run's past)."""

    run_dir: Path
    events: list[dict[str, Any]]


@dataclass
class RunLogLines(Message):
    """Lines read from a run's ``train.log``."""

    run_dir: Path
    lines: list[str]


@dataclass
class RunTailEnded(Message):
    """Following a run ended (its process is gone): its final status from the engine."""

    run_dir: Path
    info: Any  # layerscope.engine.training.runs.RunInfo


@dataclass
class RunsListed(Message):
    """The runs folder was scanned: every run with its status, oldest first."""

    runs_dir: Path
    runs: list[Any]  # layerscope.engine.training.runs.RunInfo

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsListed)  # the list refreshes on a timer: newest wins


# -- activations (input source bar, Weights | Activations, compare view) -------------------------
@dataclass
class CaptureProgress(Message):
    """A capture produced its ``done``-th tensor (of ``total`` when known)."""

    done: int
    total: int | None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CaptureProgress)  # only the latest count matters


@dataclass
class ActivationsCaptured(Message):
    """A capture finished: ``session`` (a ``layerscope.tui.activations.ActivationSession``) holds it."""

    session: Any
    seconds: float
    prediction: list[str] = field(default_factory=list)  # top classes per sample, if any


@dataclass
class ActivationViewChanged(Message):
    """The Weights | Activations | Gradients toggle moved (``True``: a captured side;
    ``gradients``: the gradients side)."""

    activations: bool
    gradients: bool = False


@dataclass
class ActivationReady(Message):
    """The engine's answer for one captured activation (statistics at ``bins`` bins, its count
    in a value range, which view), posted to the screen as it is."""

    answer: ActivationAnswer


@dataclass
class DiffReady(Message):
    """Two activation reports were loaded and compared (an ``layerscope.engine.diff.ReportDiff``).

    ``about`` says what each side is: its model and input, one line each.
    """

    diff: Any
    about: tuple[str, str] = ("", "")


# -- navigation (screens post these; the app hands them to layerscope.tui.navigation) -----------------------
@dataclass
class ShowTrain(Message):
    """Bring up the Train screen, following ``follow`` when given."""

    follow: Path | None = None


@dataclass
class ShowRuns(Message):
    """Bring up the Runs screen."""


@dataclass
class ShowRunCompare(Message):
    """Open the runs compare view of ``run_dirs`` (two or more, in the order shown)."""

    run_dirs: list[Path]


@dataclass
class OpenInInspector(Message):
    """Back to the inspector, opening ``path`` (a run's model or checkpoint), on ``layer``."""

    path: Path
    layer: str | None = None


@dataclass
class ShowHealth(Message):
    """Open the Layer health view of the run in ``run_dir``."""

    run_dir: Path


@dataclass
class ShowQuantization(Message):
    """Open the Quantization view of ``path``; ``groups``: its folder's listing, if known."""

    path: Path
    groups: list[ModelGroup] | None = None


@dataclass
class CompareReports(Message):
    """Ask for reports and open the compare view; ``session``: the current capture as B."""

    session: Any = None
