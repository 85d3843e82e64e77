"""From a :class:`RunConfig` to the pieces of a Lightning run: module, data, callbacks, trainer options.

The recipe's ``task`` picks the module (:class:`ClassifierModule` or :class:`RegressionModule`),
the callbacks that apply (class-based views only for classification) and the metric that picks
the best checkpoint, in its direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from loguru import logger

from layerscope.engine.errors import ConfigError
from layerscope.engine.training.callbacks import (
    ConfusionMatrixCallback,
    DatasetStatisticsCallback,
    EventsCallback,
    GracefulStopCallback,
    GradNormCallback,
    ModelInfoCallback,
    OnnxExportCallback,
    RegressionSamplesCallback,
    SamplerDistributionCallback,
    SampleVisualizationCallback,
    TrainingHistoryCallback,
)
from layerscope.engine.training.config import RunConfig
from layerscope.engine.training.data import ImageDataModule
from layerscope.engine.training.events import EventWriter
from layerscope.engine.training.module import ClassifierModule, RegressionModule
from layerscope.engine.training.paths import LAST_CKPT, STOP_FILE


@dataclass
class RunParts:
    """Everything ``Trainer.fit`` needs for one run."""

    module: pl.LightningModule  # ClassifierModule or RegressionModule
    datamodule: pl.LightningDataModule
    callbacks: list[pl.Callback] = field(default_factory=list)
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)


def build_data(cfg: RunConfig) -> pl.LightningDataModule:
    """The datamodule, already set up (class names are needed to size the model)."""
    from layerscope.engine.training.array_data import ArrayDataModule, load_module_data

    kind, task = cfg.data.kind, cfg.task.kind
    dm: pl.LightningDataModule
    if kind == "arrays":
        dm = ArrayDataModule(cfg.data, task=task, seed=cfg.trainer.seed)
    elif kind == "module":
        dm = load_module_data(cfg.data, task)
    else:
        dm = ImageDataModule(cfg.data, seed=cfg.trainer.seed)
    dm.setup("fit")
    return dm


def data_num_classes(cfg: RunConfig, dm: pl.LightningDataModule) -> int | None:
    """Classes the data has (its ``class_names`` or ``num_classes``), else the recipe's."""
    names = getattr(dm, "class_names", None)
    if names:
        return len(names)
    n = getattr(dm, "num_classes", None) or cfg.model.num_classes
    return int(n) if n else cfg.model.kwargs.get("num_classes")


def _takes(arch: str, name: str) -> bool:
    """Whether the architecture's constructor accepts ``name`` (or any keyword)."""
    import inspect

    from layerscope.engine import zoo

    try:
        sig = inspect.signature(zoo.resolve_arch(arch))
    except (TypeError, ValueError):
        return True
    return name in sig.parameters or any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def build_module(cfg: RunConfig, num_classes: int | None = None) -> pl.LightningModule:
    """The task's module around the architecture, built with ``model.kwargs`` (a classifier's
    ``num_classes`` is added from the data when the constructor takes it and it is not given)."""
    from layerscope.engine import zoo

    task = cfg.task
    kwargs = dict(cfg.model.kwargs)
    if task.kind == "regression":
        return RegressionModule(
            zoo.build(cfg.model.arch, **kwargs),
            loss=task.resolved_loss(),
            metrics=task.resolved_metrics(),
            lr=cfg.optimizer.lr,
            optimizer=cfg.optimizer,
            scheduler=cfg.scheduler,
        )
    if num_classes is None:
        raise ConfigError(
            f"cannot tell how many classes the {cfg.data.kind} data has; set model.num_classes"
        )
    if cfg.model.num_classes is not None and cfg.model.num_classes != num_classes:
        raise ConfigError(
            f"model.num_classes is {cfg.model.num_classes} but the {cfg.data.kind} data has "
            f"{num_classes} classes; remove model.num_classes or make them match"
        )
    if "num_classes" not in kwargs and _takes(cfg.model.arch, "num_classes"):
        kwargs["num_classes"] = num_classes
    return ClassifierModule(
        zoo.build(cfg.model.arch, **kwargs),
        num_classes=num_classes,
        lr=cfg.optimizer.lr,
        optimizer=cfg.optimizer,
        scheduler=cfg.scheduler,
        loss=task.resolved_loss(),
        metrics=task.resolved_metrics(),
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

    from layerscope.engine.training.hook import checkpoint_options

    stopper = stopper or GracefulStopCallback(run_dir / STOP_FILE, run_dir / LAST_CKPT)
    monitor, mode = cfg.task.resolved_monitor(), cfg.task.resolved_mode()
    classification = cfg.task.kind == "classification"
    callbacks: list[pl.Callback] = [ModelInfoCallback(run_dir)]
    if classification:
        callbacks.append(DatasetStatisticsCallback(run_dir))
    if cfg.logging.grad_norm_every:
        callbacks.append(GradNormCallback(run_dir, cfg.logging.grad_norm_every))
    every_epoch = cfg.logging.every_epoch_figures
    if cfg.logging.artifacts and classification:
        callbacks += [
            ConfusionMatrixCallback(run_dir, every_epoch=every_epoch),
            SampleVisualizationCallback(
                run_dir, num_samples=cfg.logging.num_samples, every_epoch=every_epoch
            ),
            SamplerDistributionCallback(run_dir),
        ]
    elif cfg.logging.artifacts:
        logger.info(
            "confusion matrix, class distribution, sampler distribution and class-labelled "
            "samples off: the task is {}",
            cfg.task.kind,
        )
        callbacks.append(
            RegressionSamplesCallback(
                run_dir, num_samples=min(cfg.logging.num_samples, 8), every_epoch=every_epoch
            )
        )
    callbacks.append(
        TrainingHistoryCallback(run_dir, monitor=monitor, mode=mode, plots=cfg.logging.artifacts)
    )
    if cfg.health.enabled:
        from layerscope.engine.training.callbacks.layer_health import LayerHealthCallback

        callbacks.append(LayerHealthCallback(run_dir, cfg.health, writer=writer))
    if cfg.export.onnx:
        callbacks.append(OnnxExportCallback(run_dir))
    callbacks += [
        # A plain ModelCheckpoint (its class names its state in checkpoints), saving at
        # validation end so the events callback reports it in the same epoch.
        ModelCheckpoint(
            **checkpoint_options(run_dir, monitor, mode), save_on_train_epoch_end=False
        ),
        stopper,
        # Last, so that metrics.json, model.onnx and the stop checkpoint exist before `finished`.
        EventsCallback(
            run_dir,
            cfg.logging.progress_every,
            writer=writer,
            run_name=cfg.name,
            monitor=monitor,
            mode=mode,
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
    classes = data_num_classes(cfg, dm) if cfg.task.kind == "classification" else None
    module = build_module(cfg, classes)
    return RunParts(
        module=module,
        datamodule=dm,
        callbacks=build_callbacks(cfg, run_dir, writer=writer, stopper=stopper),
        trainer_kwargs=trainer_kwargs(cfg, run_dir),
    )
