"""What a gradient capture differentiates: the loss for a target, and the target itself.

``capture(..., gradients=True, target=T)`` runs forward and backward with the model in eval mode
(as for activations) and records each module's output gradient and each parameter's gradient of
the *mean* loss over all samples:

* a class index (``int``), a per-sample integer array of class indices, ``"predicted"`` (the
  argmax of the model's own output) or ``"label"`` (the input's dataset labels): cross-entropy of
  the output logits (``N × C``);
* a float array of the output's shape: mean squared error against it.

Several batches give the same numbers as one: each batch's loss is its *sum* over samples divided
by the total sample count, so parameter gradients add up to the whole batch's and every output
gradient is its slice of the whole batch's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from layerscope.engine.errors import InputError

if TYPE_CHECKING:
    import torch

PREDICTED = "predicted"
LABEL = "label"


@dataclass
class GradientTarget:
    """A resolved target: ``classes`` (N class indices), ``values`` (MSE goal), or predicted."""

    loss: str  # "cross_entropy" | "mse"
    description: str
    samples: int
    classes: torch.Tensor | None = None
    values: torch.Tensor | None = None
    predicted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"loss": self.loss, "target": self.description, "reduction": "mean"}

    def batch_loss(self, out: Any, start: int) -> torch.Tensor:
        """This batch's share of the mean loss (its sum over samples over the total count)."""
        import torch
        import torch.nn.functional as F

        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            raise InputError(
                "gradients need a model whose output is one floating-point tensor (logits or "
                f"values); this one returned {type(out).__name__}"
            )
        n = out.shape[0] if out.dim() else 1
        if self.loss == "mse":
            goal = self.values[start : start + n].to(out.device, out.dtype)  # type: ignore[index]
            if goal.shape != out.shape:
                raise InputError(
                    f"the target array has shape {tuple(self.values.shape)} but the model's "  # type: ignore[union-attr]
                    f"output is {tuple(out.shape)} per batch; give one value per output"
                )
            return F.mse_loss(out, goal, reduction="sum") / (self.samples * max(out[0].numel(), 1))
        if out.dim() != 2:
            raise InputError(
                f"a class target needs logits of shape N×C; the model's output is {tuple(out.shape)}"
            )
        if self.predicted:
            cls = out.detach().argmax(1)
        else:
            cls = self.classes[start : start + n].to(out.device)  # type: ignore[index]
        bad = cls[(cls < 0) | (cls >= out.shape[1])]
        if bad.numel():
            raise InputError(
                f"class {int(bad[0])} is out of range for a model with {out.shape[1]} outputs"
            )
        return F.cross_entropy(out, cls, reduction="sum") / self.samples


def parse_target(spec: str | None, what: str = "--target") -> Any:
    """A target as a user types it (``capture --target``, the inspector's target field):
    ``predicted`` (also for empty), ``label``, a class index, or a ``.npy`` file (read without
    pickles); ``what`` names the field in the one-line error."""
    from pathlib import Path

    spec = (spec or "").strip()
    if spec in ("", PREDICTED, LABEL):
        return spec or PREDICTED
    try:
        return int(spec)
    except ValueError:
        pass
    path = Path(spec).expanduser()
    if not path.is_file():
        raise InputError(
            f"{what} {spec}: not predicted, label, a class index or an existing .npy file"
        )
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(
            f"{what} {path.name}: cannot read it as a .npy array ({type(exc).__name__})"
        ) from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise InputError(f"{what} {path.name}: holds no numeric array")
    return arr


def resolve_target(target: Any, samples: int, labels: list[int] | None = None) -> GradientTarget:
    """A :class:`GradientTarget` from what the caller gave; bad targets are one ``InputError``."""
    import numpy as np
    import torch

    if target is None:
        raise InputError(
            "a gradient capture needs a target: a class index, 'predicted', 'label' or an array"
        )
    if isinstance(target, str):
        if target == PREDICTED:
            return GradientTarget("cross_entropy", "predicted class", samples, predicted=True)
        if target == LABEL:
            if not labels:
                raise InputError(
                    "target 'label' needs an input with dataset labels (digits:..., cifar10:...)"
                )
            return _classes(torch.tensor(labels), samples, "dataset labels")
        raise InputError(
            f"unknown gradient target {target!r}: give a class index, 'predicted', 'label' or an "
            "array"
        )
    if isinstance(target, bool):
        raise InputError(
            "a gradient target must be a class index, 'predicted', 'label' or an array"
        )
    if isinstance(target, int):
        if target < 0:
            raise InputError(f"class {target} is out of range (class indices start at 0)")
        return _classes(torch.full((samples,), target), samples, f"class {target}")
    if isinstance(target, np.ndarray):
        target = torch.from_numpy(np.ascontiguousarray(target))
    if not isinstance(target, torch.Tensor):
        raise InputError(
            f"a gradient target must be a class index, 'predicted', 'label' or an array, not "
            f"{type(target).__name__}"
        )
    t = target.detach().cpu()
    if t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8):
        if t.dim() == 0:
            return resolve_target(int(t), samples)
        if t.dim() != 1 or t.shape[0] != samples:
            raise InputError(
                f"a class-index target needs one class per sample (shape ({samples},)), got shape "
                f"{tuple(t.shape)}"
            )
        return _classes(t.to(torch.int64), samples, f"class indices ({samples})")
    if not t.is_floating_point():
        raise InputError(f"a target array must hold class indices or floats, not {t.dtype}")
    if t.dim() == 0 or t.shape[0] != samples:
        raise InputError(
            f"a target array needs one row per sample ({samples}), got shape {tuple(t.shape)}"
        )
    if not bool(torch.isfinite(t).all()):
        raise InputError("the target array holds NaN or Inf values")
    shape = "×".join(map(str, t.shape))
    return GradientTarget("mse", f"array {shape}", samples, values=t.to(torch.float32))


def _classes(cls: torch.Tensor, samples: int, description: str) -> GradientTarget:
    if cls.shape[0] != samples:
        raise InputError(f"{description}: {cls.shape[0]} targets for {samples} samples")
    return GradientTarget("cross_entropy", description, samples, classes=cls)
