"""``SampleVisualizationCallback``: a grid of validation images with true and predicted labels."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

from engine.training.callbacks._util import class_names_of, epoch_dir, preds_and_target
from engine.training.io import save_figure


class SampleVisualizationCallback(Callback):
    """Saves ``epoch_NNN/samples.png``: the first ``num_samples`` validation images, titled
    "true / predicted", green when right and red when wrong.

    Args:
        out_dir: the run folder.
        num_samples: images in the grid.
        class_names: label names; default from the datamodule.
        mean, std: to undo normalisation for display; default from the datamodule, else none.
    """

    def __init__(
        self,
        out_dir: str | Path,
        num_samples: int = 16,
        class_names: list[str] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        self.out_dir = Path(out_dir)
        self.num_samples = num_samples
        self.class_names = class_names
        self.mean, self.std = mean, std
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
        if (
            trainer.sanity_checking
            or not trainer.is_global_zero
            or batch_idx != 0
            or dataloader_idx
        ):
            return
        preds, target = preds_and_target(pl_module, outputs, batch)
        k = self.num_samples
        self._batch = (batch[0][:k].detach().cpu(), target[:k].cpu(), preds[:k].cpu())

    @override
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._batch is None or not trainer.is_global_zero or trainer.sanity_checking:
            return
        x, y, p = self._batch
        self._batch = None
        dm = getattr(trainer, "datamodule", None)
        mean = self.mean or getattr(dm, "mean", None)
        std = self.std or getattr(dm, "std", None)
        if mean is not None and std is not None:
            x = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
        names = class_names_of(trainer, self.class_names, getattr(pl_module, "num_classes", None))
        fig = _grid(x.clamp(0, 1), y.tolist(), p.tolist(), names, trainer.current_epoch)
        save_figure(fig, epoch_dir(self.out_dir, trainer.current_epoch) / "samples.png")


def _grid(x: torch.Tensor, y: list[int], p: list[int], names: list[str], epoch: int) -> Any:
    from matplotlib.figure import Figure

    def name(i: int) -> str:
        return names[i] if 0 <= i < len(names) else str(i)

    cols = math.ceil(math.sqrt(len(y)))
    rows = math.ceil(len(y) / cols)
    fig = Figure(figsize=(1.6 * cols, 1.7 * rows + 0.3))
    images = x.permute(0, 2, 3, 1).numpy()
    for i, (img, t, q) in enumerate(zip(images, y, p, strict=True)):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(
            img.squeeze(-1) if img.shape[-1] == 1 else img,
            cmap="gray" if img.shape[-1] == 1 else None,
        )
        ax.set_title(f"{name(t)} / {name(q)}", fontsize=8, color="green" if t == q else "red")
        ax.axis("off")
    fig.suptitle(f"true / predicted, epoch {epoch}", fontsize=9)
    fig.tight_layout()
    return fig
