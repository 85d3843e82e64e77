"""Messages the inspector's workers and widgets post: small records, one line each.

Long because each is written out rather than a ``@dataclass``: building 31 dataclasses cost the
app's first frame ~4 ms (tests/tui/test_messages.py keeps them behaving like the dataclasses they
were).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.message import Message

if TYPE_CHECKING:
    from layerscope.engine.discover import ModelGroup
    from layerscope.engine.model import Model, TensorRef
    from layerscope.engine.quant_compare import Comparison
    from layerscope.engine.stats import TensorStats
    from layerscope.engine.usecases.activations import ActivationAnswer


class _Fields(Message):
    """A message whose fields are ``__match_args__``: compared, printed and matched like a
    dataclass (equal when of one class with equal fields; unhashable)."""

    __match_args__: ClassVar[tuple[str, ...]] = ()
    __hash__ = None  # type: ignore[assignment]

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__match_args__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined]
        return NotImplemented

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{type(self).__qualname__}({fields})"


class ModelsListed(_Fields):
    """The picker's folder was scanned: its model groups."""

    __match_args__ = ("folder", "groups", "skipped")
    folder: Path
    groups: list[ModelGroup]
    skipped: list[tuple[Path, str]]  # model-like files, and why

    def __init__(
        self, folder: Path, groups: list[ModelGroup], skipped: list[tuple[Path, str]] | None = None
    ) -> None:
        self.folder = folder
        self.groups = groups
        self.skipped = [] if skipped is None else skipped
        super().__init__()


class ModelOpenRequested(_Fields):
    """The user asked to open a model file or sharded folder."""

    __match_args__ = ("path",)
    path: Path

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__()


class ModelLoaded(_Fields):
    """A model finished loading (headers only; tensors stay lazy)."""

    __match_args__ = ("model", "seconds")
    model: Model
    seconds: float

    def __init__(self, model: Model, seconds: float) -> None:
        self.model = model
        self.seconds = seconds
        super().__init__()


class BinsChanged(_Fields):
    """The bins control holds a new, valid bin count."""

    __match_args__ = ("bins",)
    bins: int

    def __init__(self, bins: int) -> None:
        self.bins = bins
        super().__init__()


class RangeChanged(_Fields):
    """The value-range inputs changed; ``None`` bounds mean no range."""

    __match_args__ = ("low", "high")
    low: float | None
    high: float | None

    def __init__(self, low: float | None, high: float | None) -> None:
        self.low = low
        self.high = high
        super().__init__()


class ViewChanged(_Fields):
    """The int/float toggle of a quantized tensor flipped."""

    __match_args__ = ("view",)
    view: str

    def __init__(self, view: str) -> None:
        self.view = view
        super().__init__()


class FilterChanged(_Fields):
    """The layer filter text changed (empty: no filter); ``done``: the user left the filter."""

    __match_args__ = ("text", "done")
    text: str
    done: bool

    def __init__(self, text: str, done: bool = False) -> None:
        self.text = text
        self.done = done
        super().__init__()


class StatsReady(_Fields):
    """Statistics (and, for quantized tensors, parameters per channel) of one tensor view."""

    __match_args__ = ("ref", "view", "bins", "stats", "in_range", "quant")
    ref: TensorRef
    view: str
    bins: int
    stats: TensorStats
    in_range: int | None
    quant: dict[str, Any]

    def __init__(
        self,
        ref: TensorRef,
        view: str,
        bins: int,
        stats: TensorStats,
        in_range: int | None = None,
        quant: dict[str, Any] | None = None,
    ) -> None:
        self.ref = ref
        self.view = view
        self.bins = bins
        self.stats = stats
        self.in_range = in_range
        self.quant = {} if quant is None else quant
        super().__init__()


class LogLine(_Fields):
    """One formatted line from the loguru sink, for the log pane."""

    __match_args__ = ("text", "level")
    text: str
    level: str

    def __init__(self, text: str, level: str = "INFO") -> None:
        self.text = text
        self.level = level
        super().__init__()


class TwinsFound(_Fields):
    """The (float, quantized) pairs the open model belongs to; empty when it has no twin."""

    __match_args__ = ("path", "pairs", "why")
    path: Path
    pairs: list[tuple[Path, Path]]
    why: str  # when empty: why there is no twin, in one sentence

    def __init__(self, path: Path, pairs: list[tuple[Path, Path]], why: str = "") -> None:
        self.path = path
        self.pairs = pairs
        self.why = why
        super().__init__()


class QuantProgress(_Fields):
    """The float-vs-quantized comparison advanced: ``done`` of ``total`` in ``stage``."""

    __match_args__ = ("stage", "done", "total")
    stage: str
    done: int
    total: int

    def __init__(self, stage: str, done: int, total: int) -> None:
        self.stage = stage
        self.done = done
        self.total = total
        super().__init__()

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, QuantProgress)  # only the latest step matters


class ComparisonReady(_Fields):
    """The float-vs-quantized comparison finished."""

    __match_args__ = ("comparison", "inputs", "seconds")
    comparison: Comparison
    inputs: str
    seconds: float

    def __init__(self, comparison: Comparison, inputs: str, seconds: float) -> None:
        self.comparison = comparison
        self.inputs = inputs
        self.seconds = seconds
        super().__init__()


class QuantHistogramsReady(_Fields):
    """Float and dequantized histograms of one compared tensor, over one shared range."""

    __match_args__ = ("key", "float_stats", "quant_stats")
    key: str
    float_stats: TensorStats
    quant_stats: TensorStats

    def __init__(self, key: str, float_stats: TensorStats, quant_stats: TensorStats) -> None:
        self.key = key
        self.float_stats = float_stats
        self.quant_stats = quant_stats
        super().__init__()


# -- training runs (Train and Runs screens) ------------------------------------------------------
class ConfigLoaded(_Fields):
    """A run config was read and validated: the form fills from it."""

    __match_args__ = ("path", "config")
    path: Path
    config: Any  # layerscope.engine.training.config.RunConfig

    def __init__(self, path: Path, config: Any) -> None:
        self.path = path
        self.config = config
        super().__init__()


class RunLaunched(_Fields):
    """A run process was started in ``run_dir``."""

    __match_args__ = ("run_dir",)
    run_dir: Path

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        super().__init__()


class RunEvents(_Fields):
    """Events read from a run's ``events.jsonl`` (a batch when replaying a run's past)."""

    __match_args__ = ("run_dir", "events")
    run_dir: Path
    events: list[dict[str, Any]]

    def __init__(self, run_dir: Path, events: list[dict[str, Any]]) -> None:
        self.run_dir = run_dir
        self.events = events
        super().__init__()


class RunLogLines(_Fields):
    """Lines read from a run's ``train.log``."""

    __match_args__ = ("run_dir", "lines")
    run_dir: Path
    lines: list[str]

    def __init__(self, run_dir: Path, lines: list[str]) -> None:
        self.run_dir = run_dir
        self.lines = lines
        super().__init__()


class RunTailEnded(_Fields):
    """Following a run ended (its process is gone): its final status from the engine."""

    __match_args__ = ("run_dir", "info")
    run_dir: Path
    info: Any  # layerscope.engine.training.runs.RunInfo

    def __init__(self, run_dir: Path, info: Any) -> None:
        self.run_dir = run_dir
        self.info = info
        super().__init__()


class RunsListed(_Fields):
    """The runs folder was scanned: every run with its status, oldest first."""

    __match_args__ = ("runs_dir", "runs")
    runs_dir: Path
    runs: list[Any]  # layerscope.engine.training.runs.RunInfo

    def __init__(self, runs_dir: Path, runs: list[Any]) -> None:
        self.runs_dir = runs_dir
        self.runs = runs
        super().__init__()

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunsListed)  # the list refreshes on a timer: newest wins


# -- activations (input source bar, Weights | Activations, compare view) -------------------------
class CaptureProgress(_Fields):
    """A capture produced its ``done``-th tensor (of ``total`` when known)."""

    __match_args__ = ("done", "total")
    done: int
    total: int | None

    def __init__(self, done: int, total: int | None) -> None:
        self.done = done
        self.total = total
        super().__init__()

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CaptureProgress)  # only the latest count matters


class ActivationsCaptured(_Fields):
    """A capture finished: ``session`` (a ``layerscope.tui.activations.ActivationSession``) holds it."""

    __match_args__ = ("session", "seconds", "prediction")
    session: Any
    seconds: float
    prediction: list[str]  # top classes per sample, if any

    def __init__(self, session: Any, seconds: float, prediction: list[str] | None = None) -> None:
        self.session = session
        self.seconds = seconds
        self.prediction = [] if prediction is None else prediction
        super().__init__()


class ActivationViewChanged(_Fields):
    """The Weights | Activations | Gradients toggle moved (``True``: a captured side;
    ``gradients``: the gradients side)."""

    __match_args__ = ("activations", "gradients")
    activations: bool
    gradients: bool

    def __init__(self, activations: bool, gradients: bool = False) -> None:
        self.activations = activations
        self.gradients = gradients
        super().__init__()


class ActivationReady(_Fields):
    """The engine's answer for one captured activation (statistics at ``bins`` bins, its count
    in a value range, which view), posted to the screen as it is."""

    __match_args__ = ("answer",)
    answer: ActivationAnswer

    def __init__(self, answer: ActivationAnswer) -> None:
        self.answer = answer
        super().__init__()


class DiffReady(_Fields):
    """Two activation reports were loaded and compared (an ``layerscope.engine.diff.ReportDiff``).

    ``about`` says what each side is: its model and input, one line each.
    """

    __match_args__ = ("diff", "about")
    diff: Any
    about: tuple[str, str]

    def __init__(self, diff: Any, about: tuple[str, str] = ("", "")) -> None:
        self.diff = diff
        self.about = about
        super().__init__()


# -- navigation (screens post these; the app hands them to layerscope.tui.navigation) -----------------------
class ShowTrain(_Fields):
    """Bring up the Train screen, following ``follow`` when given."""

    __match_args__ = ("follow",)
    follow: Path | None

    def __init__(self, follow: Path | None = None) -> None:
        self.follow = follow
        super().__init__()


class ShowRuns(_Fields):
    """Bring up the Runs screen."""


class ShowRunCompare(_Fields):
    """Open the runs compare view of ``run_dirs`` (two or more, in the order shown)."""

    __match_args__ = ("run_dirs",)
    run_dirs: list[Path]

    def __init__(self, run_dirs: list[Path]) -> None:
        self.run_dirs = run_dirs
        super().__init__()


class OpenInInspector(_Fields):
    """Back to the inspector, opening ``path`` (a run's model or checkpoint), on ``layer``."""

    __match_args__ = ("path", "layer")
    path: Path
    layer: str | None

    def __init__(self, path: Path, layer: str | None = None) -> None:
        self.path = path
        self.layer = layer
        super().__init__()


class ShowHealth(_Fields):
    """Open the Layer health view of the run in ``run_dir``."""

    __match_args__ = ("run_dir",)
    run_dir: Path

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        super().__init__()


class ShowQuantization(_Fields):
    """Open the Quantization view of ``path``; ``groups``: its folder's listing, if known."""

    __match_args__ = ("path", "groups")
    path: Path
    groups: list[ModelGroup] | None

    def __init__(self, path: Path, groups: list[ModelGroup] | None = None) -> None:
        self.path = path
        self.groups = groups
        super().__init__()


class CompareReports(_Fields):
    """Ask for reports and open the compare view; ``session``: the current capture as B."""

    __match_args__ = ("session",)
    session: Any

    def __init__(self, session: Any = None) -> None:
        self.session = session
        super().__init__()
