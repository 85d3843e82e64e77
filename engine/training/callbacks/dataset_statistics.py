"""``DatasetStatisticsCallback``: the training set's class distribution, at fit start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
from loguru import logger
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

from layerscope.engine.training.callbacks._util import class_names_of, classification_only
from layerscope.engine.training.io import atomic_write_json


def class_table(title: str, columns: list[str], rows: list[list[Any]]) -> str:
    """A rich table rendered to plain text (for the log and the console)."""
    import io

    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(table)
    return buf.getvalue()


def _train_targets(trainer: pl.Trainer) -> np.ndarray | None:
    dm = getattr(trainer, "datamodule", None)
    for source in (
        getattr(dm, "train_set", None),
        getattr(trainer.train_dataloader, "dataset", None),
    ):
        targets = getattr(source, "targets", None)
        if targets is not None:
            return np.asarray(targets)
    return None


class DatasetStatisticsCallback(Callback):
    """Logs a table of class, index, count and share, writes ``dataset_statistics.json``.

    The targets come from the datamodule's ``train_set.targets`` (or the train loader's dataset).
    """

    def __init__(self, out_dir: str | Path, class_names: list[str] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.class_names = class_names

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        if classification_only(self, pl_module, "class distribution"):
            return
        targets = _train_targets(trainer)
        if targets is None:
            logger.info("dataset statistics skipped: the training set exposes no targets")
            return
        if targets.dtype.kind not in "iub":
            logger.info("dataset statistics skipped: the training targets are not class labels")
            return
        n = getattr(pl_module, "num_classes", None) or int(targets.max()) + 1
        names = class_names_of(trainer, self.class_names, n)
        counts = np.bincount(targets, minlength=len(names))
        total = int(counts.sum())
        rows = [
            {
                "index": i,
                "name": names[i],
                "count": int(c),
                "percent": round(100.0 * c / max(total, 1), 2),
            }
            for i, c in enumerate(counts)
        ]
        skipped = len(getattr(getattr(trainer, "datamodule", None), "skipped_images", []) or [])
        atomic_write_json(
            self.out_dir / "dataset_statistics.json",
            {"classes": rows, "total": total, "skipped_images": skipped},
        )
        text = class_table(
            "training set",
            ["class", "index", "count", "%"],
            [[r["name"], r["index"], r["count"], f"{r['percent']:.1f}"] for r in rows]
            + [["total", "", total, "100.0"]],
        )
        logger.info("class distribution\n{}", text)
