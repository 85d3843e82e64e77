"""Messages the inspector's workers and widgets post: small dataclasses, one line each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from engine.discover import ModelGroup
    from engine.model import Model, TensorRef
    from engine.stats import TensorStats


@dataclass
class ModelsListed(Message):
    """The picker's folder was scanned: its model groups."""

    folder: Path
    groups: list[ModelGroup]


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
    """The layer filter text changed (empty: no filter)."""

    text: str


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
