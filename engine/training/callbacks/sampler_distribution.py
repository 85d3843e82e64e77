"""``SamplerDistributionCallback``: which classes the weighted sampler actually drew, per epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from loguru import logger
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

from layerscope.engine.training.callbacks._util import class_names_of, classification_only
from layerscope.engine.training.callbacks.dataset_statistics import class_table
from layerscope.engine.training.data import TrackingWeightedRandomSampler
from layerscope.engine.training.io import atomic_write_json


def find_tracking_sampler(loader: Any) -> TrackingWeightedRandomSampler | None:
    """The :class:`TrackingWeightedRandomSampler` behind a loader, also when Lightning wrapped it for DDP."""
    candidates = [
        getattr(loader, "sampler", None),
        getattr(getattr(loader, "batch_sampler", None), "sampler", None),
    ]
    for s in candidates:
        for _ in range(4):  # DistributedSamplerWrapper → _DatasetSamplerWrapper → ours
            if s is None or isinstance(s, TrackingWeightedRandomSampler):
                break
            inner = getattr(getattr(s, "dataset", None), "_sampler", None)
            s = inner if inner is not None else getattr(s, "sampler", None)
        if isinstance(s, TrackingWeightedRandomSampler):
            return s
    return None


class SamplerDistributionCallback(Callback):
    """Per epoch: drawn versus expected count per class (log table and ``sampler_distribution.json``).

    Skipped, with one note in the log, when the training loader uses another sampler.
    """

    def __init__(self, out_dir: str | Path, class_names: list[str] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.class_names = class_names
        self.epochs: list[dict[str, Any]] = []
        self._noted = False

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        if classification_only(self, pl_module, "sampler distribution"):
            return
        loader = trainer.train_dataloader
        sampler = find_tracking_sampler(loader)
        if sampler is None or not sampler._last_indices:
            if not self._noted:
                logger.info(
                    "sampler distribution skipped: the training loader has no weighted sampler"
                )
                self._noted = True
            return
        targets = getattr(getattr(loader, "dataset", None), "targets", None)
        if targets is None:
            if not self._noted:
                logger.info("sampler distribution skipped: the training set exposes no targets")
                self._noted = True
            return
        targets = np.asarray(targets)
        names = class_names_of(trainer, self.class_names, int(targets.max()) + 1)
        n = len(names)
        drawn = np.bincount(targets[np.asarray(sampler._last_indices)], minlength=n)
        weights = sampler.weights.double().numpy()
        share = np.bincount(targets, weights=weights, minlength=n) / weights.sum()
        expected = share * len(sampler._last_indices)
        rows = [
            {
                "index": i,
                "name": names[i],
                "drawn": int(drawn[i]),
                "expected": round(float(expected[i]), 2),
            }
            for i in range(n)
        ]
        self.epochs = [e for e in self.epochs if e["epoch"] != trainer.current_epoch]
        self.epochs.append({"epoch": trainer.current_epoch, "classes": rows})
        atomic_write_json(self.out_dir / "sampler_distribution.json", self.epochs)
        table = class_table(
            f"sampler draws, epoch {trainer.current_epoch}",
            ["class", "drawn", "expected"],
            [[r["name"], r["drawn"], f"{r['expected']:.1f}"] for r in rows],
        )
        logger.info("sampler distribution\n{}", table)

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"epochs": list(self.epochs)}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epochs = list(state_dict.get("epochs", []))
