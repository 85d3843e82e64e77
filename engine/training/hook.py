"""layerscope in a user's own Lightning script: one line, and the run is listed like any other.

    import pytorch_lightning as pl
    from layerscope.engine.training.hook import callbacks

    trainer = pl.Trainer(max_epochs=5, callbacks=[*callbacks(run_dir="runs/my-fno")])

:func:`callbacks` makes the run folder (``run.json`` marks it; ``docs/run-format.md``), records
the script's pid so ``layerscope runs`` tells running from killed, and returns the callbacks
that write ``events.jsonl``, ``history.json`` and curves from whatever the module ``self.log``s,
gradient norms, checkpoints, the sample view of the task and, optionally, ``model.onnx``. It
sets no ``logger``: TensorBoard, CSV or W&B loggers the script has keep working beside it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from typing_extensions import override

from layerscope.engine.training.io import atomic_write_json, atomic_write_text
from layerscope.engine.training.paths import HPARAMS_FILE, LAST_CKPT, PID_FILE, RUN_FILE, STOP_FILE

RUN_FORMAT = "layerscope.run"
RUN_FORMAT_VERSION = 1

TASKS = ("classification", "regression", "auto")


def make_run_dir(run_dir: str | Path | None, runs_dir: str | Path | None, name: str | None) -> Path:
    """``run_dir`` as given, or a fresh ``<time>-<name>`` folder under ``runs_dir``
    (default ``$LAYERSCOPE_RUNS`` or ``./runs``), named after the script by default."""
    from layerscope.engine.training.runs import default_runs_dir, new_run_dir

    if run_dir is not None:
        path = Path(run_dir).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve()
    script = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "script"
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    return new_run_dir(root, name or script or "script")


def write_run_marker(run_dir: Path, name: str | None, extra: dict[str, Any] | None = None) -> None:
    """``run.json``: what wrote the folder (the format and its version) and the pid file."""
    from layerscope.engine.training.liveness import process_start_time

    record = {
        "format": RUN_FORMAT,
        "version": RUN_FORMAT_VERSION,
        "source": "script",
        "name": name or run_dir.name,
        "script": os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else None,
        "created": round(time.time(), 3),
        **(extra or {}),
    }
    atomic_write_json(run_dir / RUN_FILE, record)
    pid = os.getpid()
    start = process_start_time(pid)
    # "PID START": the start time tells a recycled pid apart (a script's command line is its own).
    atomic_write_text(run_dir / PID_FILE, f"{pid} {start}\n" if start is not None else f"{pid}\n")


class ScriptRunCallback(Callback):
    """Writes the run marker and the module's hyperparameters (``hparams.yaml``) at fit start."""

    def __init__(self, run_dir: Path, name: str | None = None) -> None:
        self.run_dir = run_dir
        self.name = name

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        write_run_marker(self.run_dir, self.name)
        write_hparams(self.run_dir, dict(getattr(pl_module, "hparams", {}) or {}))


def write_hparams(run_dir: Path, hparams: dict[str, Any]) -> None:
    """The hyperparameters as YAML (plain values; anything else as its text)."""
    import yaml

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        if v is None or isinstance(v, bool | int | float | str):
            return v
        return str(v)

    atomic_write_text(run_dir / HPARAMS_FILE, yaml.safe_dump(plain(hparams), sort_keys=False))


def callbacks(
    run_dir: str | Path | None = None,
    *,
    runs_dir: str | Path | None = None,
    name: str | None = None,
    task: str = "auto",
    monitor: str | None = "val_loss",
    mode: str | None = None,
    progress_every: int = 10,
    grad_norm_every: int = 50,
    checkpoints: bool = True,
    artifacts: bool = True,
    num_samples: int = 4,
    export_onnx: bool = False,
    graceful_stop: bool = True,
    health: Any = True,
) -> list[Callback]:
    """The callbacks that make a plain ``Trainer`` a layerscope run.

    Args:
        run_dir: the run folder; default a new ``<time>-<name>`` under ``runs_dir``.
        runs_dir: where ``layerscope runs`` looks (default ``$LAYERSCOPE_RUNS`` or ``./runs``).
        name: the run's name (default: the script's file name).
        task: ``classification`` (confusion matrix, class-labelled samples), ``regression``
            (input/target/prediction panels or a scatter) or ``auto`` (from the module:
            ``num_classes`` means classification).
        monitor, mode: the logged metric that names the best epoch and checkpoint, and its
            direction (default from the name: ``val_loss`` is best at its minimum). A metric
            the module never logs leaves the best unset; ``last.ckpt`` is written anyway.
        progress_every: optimizer steps between progress events.
        grad_norm_every: steps between gradient-norm records (0: off).
        checkpoints: add a ``ModelCheckpoint`` into the run folder (``last.ckpt``, ``best-*``).
        artifacts: curves, sample views and (classification) confusion matrices.
        export_onnx: export ``model.onnx`` at the end (a failure is a warning on the run).
        graceful_stop: ``layerscope runs stop`` (a stop file or SIGTERM) ends fit cleanly
            with ``last.ckpt``.
        health: layer health (``layer_health.bin``, ``alert`` events; docs/run-format.md):
            ``True`` for the defaults, ``False`` for none, or a ``HealthConfig`` or a mapping
            of its fields (``{"every": 50, "alerts": {"stop_on": "none"}}``).
    """
    from layerscope.engine.training.callbacks import (
        ConfusionMatrixCallback,
        EventsCallback,
        GracefulStopCallback,
        GradNormCallback,
        ModelInfoCallback,
        OnnxExportCallback,
        RegressionSamplesCallback,
        SampleVisualizationCallback,
        TrainingHistoryCallback,
    )
    from layerscope.engine.training.config import metric_mode

    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if mode not in (None, "min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    folder = make_run_dir(run_dir, runs_dir, name)
    # Marked now, so the folder is listed from the first line of the script on.
    write_run_marker(folder, name)
    mode = mode or (metric_mode(monitor) if monitor else None)
    out: list[Callback] = [ScriptRunCallback(folder, name), ModelInfoCallback(folder)]
    if grad_norm_every:
        out.append(GradNormCallback(folder, grad_norm_every))
    if artifacts:
        if task in ("classification", "auto"):
            # Each switches itself off, with the reason logged, for a module that is no classifier.
            out += [ConfusionMatrixCallback(folder), SampleVisualizationCallback(folder, 16)]
        if task in ("regression", "auto"):
            out.append(RegressionSamplesCallback(folder, num_samples=num_samples))
    out.append(
        TrainingHistoryCallback(folder, monitor=monitor or "val_loss", mode=mode, plots=artifacts)
    )
    if health is not False:
        from layerscope.engine.training.callbacks.layer_health import LayerHealthCallback
        from layerscope.engine.training.health import HealthConfig

        cfg = health if isinstance(health, HealthConfig) else None
        extra = health if isinstance(health, dict) else {}
        out.append(LayerHealthCallback(folder, cfg, **extra))
    if export_onnx:
        out.append(OnnxExportCallback(folder))
    if checkpoints:
        out.append(_Checkpoint(folder, monitor, mode or "min"))
    if graceful_stop:
        out.append(GracefulStopCallback(folder / STOP_FILE, folder / LAST_CKPT))
    out.append(
        EventsCallback(
            folder, progress_every, run_name=name or folder.name, monitor=monitor, mode=mode
        )
    )
    return out


def checkpoint_options(folder: Path, monitor: str | None, mode: str) -> dict[str, Any]:
    """``ModelCheckpoint`` arguments every run folder shares (recipe and script runs): ``last.ckpt``
    always and one ``best-epochNNN.ckpt`` by ``monitor``. The run folder is the run's own: a
    resumed run writes ``last.ckpt`` again, never a ``last-v1.ckpt`` beside it (a stop in the first
    epoch leaves ``last.ckpt`` unknown to the resumed run's checkpoint callback)."""
    return {
        "dirpath": folder,
        "filename": "best-epoch{epoch:03d}",
        "auto_insert_metric_name": False,
        "monitor": monitor,
        "mode": mode,
        "save_top_k": 1,
        "save_last": True,
        "enable_version_counter": False,
    }


class _Checkpoint(ModelCheckpoint):
    """``last.ckpt`` always; ``best-epochNNN.ckpt`` by ``monitor`` once the module logs it."""

    def __init__(self, folder: Path, monitor: str | None, mode: str) -> None:
        super().__init__(**checkpoint_options(folder, monitor, mode))

    @override
    def _save_topk_checkpoint(self, trainer: pl.Trainer, monitor_candidates: dict) -> None:
        if self.monitor is not None and self.monitor not in monitor_candidates:
            return  # the script does not log it (yet): no best, and no error mid-run
        super()._save_topk_checkpoint(trainer, monitor_candidates)


def run_marker(run_dir: str | Path) -> dict[str, Any] | None:
    """The folder's ``run.json`` (a run written by a script), or None."""
    try:
        data = json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == RUN_FORMAT else None
