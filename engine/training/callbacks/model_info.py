"""``ModelInfoCallback``: parameter counts and size, plus ``labels_mapping.json``."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from loguru import logger
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

from layerscope.engine.training.callbacks._util import class_names_of, task_of
from layerscope.engine.training.io import atomic_write_json


class ModelInfoCallback(Callback):
    """Writes ``model_info.json`` (parameters, trainable parameters, size in MB, the task and the
    data's ``preprocessing``: normalisation, image size, channel order, class names) and, for
    classification, ``labels_mapping.json`` (class index → name) at fit start."""

    def __init__(self, out_dir: str | Path, class_names: list[str] | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.class_names = class_names

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        net = getattr(pl_module, "model", pl_module)
        params = sum(p.numel() for p in net.parameters())
        trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
        nbytes = sum(t.numel() * t.element_size() for t in (*net.parameters(), *net.buffers()))
        info = {
            "architecture": type(net).__name__,
            "parameters": params,
            "trainable_parameters": trainable,
            "size_mb": round(nbytes / 2**20, 4),
        }
        from layerscope.engine.training.callbacks.onnx_export import preprocessing_of

        record = {**info, "task": task_of(pl_module)}
        preprocessing = preprocessing_of(trainer, pl_module)
        if preprocessing:
            record["preprocessing"] = preprocessing
        atomic_write_json(self.out_dir / "model_info.json", record)
        if task_of(pl_module) == "classification":
            names = class_names_of(
                trainer, self.class_names, getattr(pl_module, "num_classes", None)
            )
            atomic_write_json(
                self.out_dir / "labels_mapping.json", {str(i): n for i, n in enumerate(names)}
            )
        logger.info(
            "model {architecture}: {parameters:,} parameters ({trainable_parameters:,} trainable), "
            "{size_mb:.3f} MB",
            **info,
        )
