"""``RegressionSamplesCallback``: what a regression model makes of a few validation samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

from engine.training.callbacks._render import renderer
from engine.training.callbacks._util import epoch_dir, task_of


def image_like(t: torch.Tensor) -> bool:
    """A batch of images: N×H×W or N×C×H×W with C in 1..4 and both sides at least 4."""
    if t.ndim == 3:
        return min(t.shape[1:]) >= 4
    return t.ndim == 4 and 1 <= t.shape[1] <= 4 and min(t.shape[2:]) >= 4


class RegressionSamplesCallback(Callback):
    """Saves ``epoch_NNN/samples.png`` for tasks other than classification: input, target and
    prediction side by side (one row per sample) when targets are image-shaped, else a
    prediction-versus-target scatter of the first validation batch.

    Args:
        out_dir: the run folder.
        num_samples: rows of panels (image targets); the scatter uses the whole first batch.
        background: draw off the training loop (flushed at the end of fit).
    """

    def __init__(self, out_dir: str | Path, num_samples: int = 4, background: bool = True) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        self.out_dir = Path(out_dir)
        self.num_samples = num_samples
        self.background = background
        self._batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @override
    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or batch_idx or dataloader_idx:
            return
        if task_of(pl_module) == "classification":
            return
        x, y = batch[0], batch[1]
        if isinstance(outputs, dict) and "preds" in outputs:
            pred = outputs["preds"]
        else:
            with torch.no_grad():
                pred = pl_module(x)
        if not isinstance(pred, torch.Tensor) or not isinstance(y, torch.Tensor):
            return
        self._batch = (x.detach().cpu(), y.detach().cpu(), pred.detach().cpu())

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._batch is None or not trainer.is_global_zero or trainer.sanity_checking:
            return
        x, y, p = self._batch
        self._batch = None
        epoch, path = trainer.current_epoch, epoch_dir(self.out_dir, trainer.current_epoch)
        if image_like(y) and y.shape == p.shape:
            k = self.num_samples
            xs = x[:k].float().numpy() if image_like(x) else None
            ys, ps = y[:k].float().numpy(), p[:k].float().numpy()
            build = lambda: _panels(xs, ys, ps, epoch)  # noqa: E731 - data bound now
        else:
            ys, ps = y.float().reshape(-1).numpy(), p.float().reshape(-1).numpy()
            n = min(len(ys), len(ps))
            build = lambda: _scatter(ys[:n], ps[:n], epoch)  # noqa: E731
        renderer.submit(path / "samples.png", build, self.background)

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        renderer.flush()

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        renderer.flush()


def _plane(a: np.ndarray) -> np.ndarray:
    """H×W from H×W or C×H×W (the first channel: a panel shows one plane)."""
    return a if a.ndim == 2 else a[0]


def _panels(x: np.ndarray | None, y: np.ndarray, p: np.ndarray, epoch: int) -> Any:
    from matplotlib.figure import Figure

    cols = [("input", x), ("target", y), ("prediction", p)] if x is not None else [
        ("target", y), ("prediction", p)
    ]  # fmt: skip
    rows = len(y)
    fig = Figure(figsize=(1.6 * len(cols), 1.6 * rows + 0.3))
    for r in range(rows):
        # target and prediction share one colour scale, so a faint prediction looks faint
        lo = float(min(_plane(y[r]).min(), _plane(p[r]).min()))
        hi = float(max(_plane(y[r]).max(), _plane(p[r]).max()))
        for c, (title, arr) in enumerate(cols):
            assert arr is not None
            ax = fig.add_subplot(rows, len(cols), r * len(cols) + c + 1)
            scale = {} if title == "input" else {"vmin": lo, "vmax": hi}
            ax.imshow(_plane(arr[r]), cmap="viridis", interpolation="nearest", **scale)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"validation samples, epoch {epoch}", fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.9, wspace=0.05, hspace=0.05)
    return fig


def _scatter(y: np.ndarray, p: np.ndarray, epoch: int) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.6, 3.6))
    ax = fig.add_subplot()
    ax.scatter(y, p, s=6, alpha=0.6)
    lo = float(min(y.min(), p.min())) if len(y) else 0.0
    hi = float(max(y.max(), p.max())) if len(y) else 1.0
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=0.8)  # perfect predictions
    ax.set_xlabel("target")
    ax.set_ylabel("prediction")
    ax.set_title(f"prediction vs target, epoch {epoch}", fontsize=9)
    fig.subplots_adjust(left=0.18, bottom=0.14, right=0.96, top=0.9)
    return fig
