"""From a :class:`RunConfig` to the pieces of a Lightning run: module, data, callbacks, trainer options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from engine.errors import ConfigError
from engine.training.callbacks import (
    ConfusionMatrixCallback,
    DatasetStatisticsCallback,
    EventsCallback,
    GracefulStopCallback,
    ModelInfoCallback,
    OnnxExportCallback,
    SamplerDistributionCallback,
    SampleVisualizationCallback,
    TrainingHistoryCallback,
)
from engine.training.config import RunConfig
from engine.training.data import ImageDataModule
from engine.training.events import EventWriter
from engine.training.module import ClassifierModule
from engine.training.paths import LAST_CKPT, STOP_FILE


@dataclass
class RunParts:
    """Everything ``Trainer.fit`` needs for one run."""

    module: ClassifierModule
    datamodule: ImageDataModule
    callbacks: list[pl.Callback] = field(default_factory=list)
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)


def build_data(cfg: RunConfig) -> ImageDataModule:
    """The datamodule, already set up (class names are needed to size the model)."""
    dm = ImageDataModule(cfg.data, seed=cfg.trainer.seed)
    dm.setup("fit")
    return dm


def build_module(cfg: RunConfig, num_classes: int) -> ClassifierModule:
    """The classifier around the configured architecture."""
    from engine import zoo

    if cfg.model.num_classes is not None and cfg.model.num_classes != num_classes:
        raise ConfigError(
            f"model.num_classes is {cfg.model.num_classes} but the {cfg.data.kind} data has "
            f"{num_classes} classes; remove model.num_classes or make them match"
        )
    net = zoo.build(cfg.model.arch, num_classes=num_classes)
    return ClassifierModule(
        net,
        num_classes=num_classes,
        lr=cfg.optimizer.lr,
        optimizer=cfg.optimizer,
        scheduler=cfg.scheduler,
        grad_norm_every=cfg.logging.grad_norm_every,
    )


def build_callbacks(
    cfg: RunConfig,
    run_dir: Path,
    *,
    writer: EventWriter | None = None,
    stopper: GracefulStopCallback | None = None,
) -> list[pl.Callback]:
    """Observability callbacks, checkpoints, graceful stop and the events stream, in hook order."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    stopper = stopper or GracefulStopCallback(run_dir / STOP_FILE, run_dir / LAST_CKPT)
    callbacks: list[pl.Callback] = [ModelInfoCallback(run_dir), DatasetStatisticsCallback(run_dir)]
    if cfg.logging.artifacts:
        callbacks += [
            ConfusionMatrixCallback(run_dir),
            SampleVisualizationCallback(run_dir, num_samples=cfg.logging.num_samples),
            SamplerDistributionCallback(run_dir),
        ]
    callbacks.append(TrainingHistoryCallback(run_dir, plots=cfg.logging.artifacts))
    if cfg.export.onnx:
        callbacks.append(OnnxExportCallback(run_dir))
    callbacks += [
        ModelCheckpoint(
            dirpath=run_dir,
            filename="best-epoch{epoch:03d}",
            auto_insert_metric_name=False,
            monitor="val_acc",
            mode="max",
            save_top_k=1,
            save_last=True,
            # at validation end, so the events callback reports it in the same epoch
            save_on_train_epoch_end=False,
            # The run folder is the run's own: a resumed run writes last.ckpt again, never a
            # last-v1.ckpt beside it (a stop in the first epoch leaves last.ckpt unknown to it).
            enable_version_counter=False,
        ),
        stopper,
        # Last, so that metrics.json, model.onnx and the stop checkpoint exist before `finished`.
        EventsCallback(
            run_dir,
            cfg.logging.progress_every,
            writer=writer,
            run_name=cfg.name,
        ),
    ]
    return callbacks


def trainer_kwargs(cfg: RunConfig, run_dir: Path) -> dict[str, Any]:
    """Trainer options from the config; scaling out (devices, strategy, nodes) is passed straight on."""
    t = cfg.trainer
    kwargs: dict[str, Any] = {
        "max_epochs": t.max_epochs,
        "accelerator": t.accelerator,
        "devices": t.devices,
        "strategy": t.strategy,
        "num_nodes": t.num_nodes,
        "precision": t.precision,
        "gradient_clip_val": t.gradient_clip_val,
        "gradient_clip_algorithm": t.gradient_clip_algorithm,
        "deterministic": t.deterministic,
        "default_root_dir": str(run_dir),
        "logger": False,  # history.json and events.jsonl are the run's record
        "enable_progress_bar": False,  # a detached process has no terminal
        "enable_model_summary": False,  # ModelInfoCallback reports the model
    }
    if t.limit_train_batches is not None:
        kwargs["limit_train_batches"] = _limit(t.limit_train_batches)
    if t.limit_val_batches is not None:
        kwargs["limit_val_batches"] = _limit(t.limit_val_batches)
    return kwargs


def _limit(value: float) -> int | float:
    """Lightning reads an int as a batch count and a float as a fraction."""
    return int(value) if value > 1 else float(value)


def build_run(
    cfg: RunConfig,
    run_dir: Path,
    *,
    writer: EventWriter | None = None,
    stopper: GracefulStopCallback | None = None,
) -> RunParts:
    """All the pieces for ``Trainer(**parts.trainer_kwargs, callbacks=parts.callbacks).fit(...)``."""
    dm = build_data(cfg)
    module = build_module(cfg, len(dm.class_names))
    return RunParts(
        module=module,
        datamodule=dm,
        callbacks=build_callbacks(cfg, run_dir, writer=writer, stopper=stopper),
        trainer_kwargs=trainer_kwargs(cfg, run_dir),
    )
