"""The batch an input spec becomes (``InputBatch``) and the index/range syntax every source
shares (``17``, ``0-63``, ``1,5,9``; ``[0:8]``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from layerscope.engine.errors import InputError

if TYPE_CHECKING:
    import torch


@dataclass(eq=False)
class InputBatch:
    """A batch (``N×C×H×W`` float32 for images) and what it is.

    Attributes:
        description: one line for people, e.g. ``CIFAR-10 test[17] (label=cat)``.
        normalization: ``{"mean", "std", "name"}`` applied after scaling to [0, 1], or ``None``.
        transforms: the other steps taken, in order (``"resized 64×64 → 32×32"``...).
    """

    tensor: torch.Tensor
    spec: str
    source: str
    description: str
    indices: list[int] | None = None
    labels: list[int] | None = None
    label_names: list[str] | None = None
    normalization: dict[str, Any] | None = None
    transforms: list[str] = field(default_factory=list)
    seed: int | None = None
    # Several inputs: name → batch, in the model's order (``tensor`` is the first of them).
    named: dict[str, torch.Tensor] | None = None

    def feed(self) -> torch.Tensor | dict[str, torch.Tensor]:
        """What the model is called with: the tensor, or the named tensors as keywords."""
        return self.named if self.named is not None else self.tensor

    def to_dict(self) -> dict[str, Any]:
        """Everything but the values: what a report records about its input."""
        return {
            "spec": self.spec,
            "source": self.source,
            "description": self.description,
            "shape": list(self.tensor.shape),
            "dtype": str(self.tensor.dtype).removeprefix("torch."),
            "indices": self.indices,
            "labels": self.labels,
            "label_names": self.label_names,
            "normalization": self.normalization,
            "transforms": self.transforms,
            "seed": self.seed,
            "inputs": None
            if self.named is None
            else {
                k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")}
                for k, v in self.named.items()
            },
        }


def parse_indices(text: str, limit: int, what: str) -> list[int]:
    """``"17"``, ``"0-63"``, ``"1,5,9-11"`` → indices, each checked against ``limit``."""
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise InputError(
                f"bad {what} index {part!r}: use a number, a range like 0-63, or a list 1,5,9"
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if hi < lo:
            raise InputError(f"bad {what} range {part!r}: the end comes before the start")
        if hi >= limit:
            raise InputError(
                f"{what} index {hi} is out of range: there are {limit} samples (0-{limit - 1})"
            )
        out.extend(range(lo, hi + 1))
    return out or [0]


def sample_slice(rng: str | None, n: int, name: str) -> slice:
    """``"0:8"``, ``":8"``, ``"5"`` → a slice of ``n`` samples, checked."""
    if rng is None:
        return slice(None)
    m = re.fullmatch(r"\s*(\d*)\s*(:?)\s*(\d*)\s*", rng)
    if not m or (not m.group(2) and not m.group(1)):
        raise InputError(f"bad sample range [{rng[:30]}] for {name}: use [0:8], [:8] or [5]")
    lo = int(m.group(1) or 0)
    hi = int(m.group(3)) if m.group(3) else (n if m.group(2) else lo + 1)
    if hi > n or lo >= hi:
        raise InputError(
            f"sample range [{rng}] does not fit {name}: it holds {n} samples (0-{n - 1})"
        )
    return slice(lo, hi)


def index_ranges(idx: list[int]) -> str:
    """``[0, 1, 2, 5]`` → ``0-2,5``."""
    parts: list[str] = []
    start = prev = idx[0]
    for i in [*idx[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(parts)
