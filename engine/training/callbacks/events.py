"""``EventsCallback``: the run's progress as ``events.jsonl``, the stream the app and CLI follow."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from typing_extensions import override

from layerscope.engine.training.callbacks._util import epoch_metrics, scalar_metrics, task_of
from layerscope.engine.training.callbacks.graceful_stop import (
    GracefulStopCallback,
    stopped_mid_epoch,
)
from layerscope.engine.training.events import EventWriter


class EventsCallback(Callback):
    """Writes ``started``/``resumed``, ``progress`` every N steps, ``epoch``, ``checkpoint`` and
    a terminal ``finished``, ``stopped`` or ``failed`` event. Rank zero writes; others stay silent.

    Args:
        run_dir: folder for ``events.jsonl`` (ignored when ``writer`` is given).
        every_n_steps: optimizer steps between progress events.
        writer: an existing writer, so the run process can add a ``failed`` event for errors
            raised outside ``fit``.
        stop_requested: tells a graceful stop (``stopped``) from a normal end (``finished``);
            by default, whether a :class:`GracefulStopCallback` on the trainer stopped it.
        run_name: recorded in the ``started`` event.
        monitor, mode: the metric that picks the best epoch and its direction (``min``/``max``),
            recorded in the ``started`` event so listings rank runs the same way.

    The terminal event carries ``warnings``: one line each from callbacks that have a
    ``run_warnings`` list (a failed ONNX export is a warning, not a failed run).
    """

    def __init__(
        self,
        run_dir: str | Path | None = None,
        every_n_steps: int = 10,
        *,
        writer: EventWriter | None = None,
        stop_requested: Callable[[], bool] | None = None,
        run_name: str | None = None,
        monitor: str | None = None,
        mode: str | None = None,
    ) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be at least 1, got {every_n_steps}")
        if writer is None and run_dir is None:
            raise ValueError("EventsCallback needs run_dir or writer")
        self.writer = writer or EventWriter(run_dir)  # type: ignore[arg-type]
        self.every_n_steps = every_n_steps
        self.stop_requested = stop_requested
        self.run_name = run_name
        self.monitor, self.mode = monitor, mode
        self._reported: dict[str, int] = {}
        self._total_steps: int | None = None
        self._last_time = 0.0
        self._samples = 0
        self._start: tuple[float, int] = (0.0, 0)  # (time, step) when this session's training began
        self._batches = 0  # trained in this session's current epoch

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        try:
            total = trainer.estimated_stepping_batches
            self._total_steps = int(total) if total != float("inf") else None
        except Exception:  # an iterable-style loader has no length: report steps without a total
            self._total_steps = None
        self._last_time = time.perf_counter()
        self._samples = 0
        self._start = (self._last_time, trainer.global_step)
        if not trainer.is_global_zero:
            return
        self._report_checkpoints(trainer, emit=False)  # a resumed run's old files are not news
        # Here rather than in on_fit_start: a resumed run's step and epoch are restored by now.
        self.writer.emit(
            "resumed" if trainer.ckpt_path else "started",
            run=self.run_name,
            pid=os.getpid(),
            max_epochs=trainer.max_epochs,
            total_steps=self._total_steps,
            world_size=trainer.world_size,
            epoch=trainer.current_epoch,
            step=trainer.global_step,
            task=task_of(pl_module),
            **({"monitor": self.monitor, "mode": self.mode} if self.monitor else {}),
        )

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._batches = 0
        # ModelCheckpoint runs after this callback at epoch end; report its files here.
        if trainer.is_global_zero:
            self._report_checkpoints(trainer)

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._batches += 1
        if not trainer.is_global_zero:
            return
        if isinstance(batch, list | tuple) and batch and isinstance(batch[0], torch.Tensor):
            self._samples += batch[0].shape[0]
        step = trainer.global_step
        if step % self.every_n_steps != 0:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        now = time.perf_counter()
        dt = max(now - self._last_time, 1e-9)
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
        self.writer.emit(
            "progress",
            epoch=trainer.current_epoch,
            step=step,
            total_steps=self._total_steps,
            batch=batch_idx,
            loss=float(loss) if isinstance(loss, torch.Tensor) else None,
            lr=lr,
            # every rank trains on its own shard: the global rate is world_size times ours
            samples_per_sec=round(self._samples * trainer.world_size / dt, 1),
            elapsed_s=round(now - self._start[0], 1),
            eta_s=self._eta(now, step),
        )
        self._last_time, self._samples = now, 0

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        # Not an epoch done: one cut short by a stop (resuming finishes it), or one whose end
        # Lightning replays on resuming from a checkpoint saved at that end (no batch, no metrics).
        if self._batches and not stopped_mid_epoch(trainer):
            self.writer.emit(
                "epoch",
                epoch=trainer.current_epoch,
                step=trainer.global_step,
                metrics=epoch_metrics(trainer),
            )
        self._report_checkpoints(trainer)

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self._report_checkpoints(trainer)

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self._report_checkpoints(trainer)
        stopped = (
            self.stop_requested()
            if self.stop_requested is not None
            else any(s.requested for s in _stoppers(trainer))
        )
        kind = "stopped" if stopped else "finished"
        where: dict[str, Any] = {"epochs_done": trainer.current_epoch, "step": trainer.global_step}
        stopper = next((s for s in _stoppers(trainer) if s.requested), None)
        if stopped and stopper is not None and stopper.stopped_epoch is not None:
            # Lightning counts an epoch cut short by a stop as done; it is not: resuming
            # finishes it. Say where the run stopped: epoch E (0-based) at step S.
            where = {
                "epoch": stopper.stopped_epoch,
                "step": stopper.stopped_step,
                "epochs_done": stopper.stopped_epoch + (0 if stopper.mid_epoch else 1),
            }
        warnings = [w for cb in trainer.callbacks for w in getattr(cb, "run_warnings", None) or []]
        if warnings:
            where["warnings"] = warnings
        self.writer.emit(kind, **where, metrics=scalar_metrics(trainer))

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if not trainer.is_global_zero or self.writer.terminal:
            return
        self._report_checkpoints(trainer)
        if isinstance(exception, KeyboardInterrupt | SystemExit):
            # Ctrl-C, or Lightning's SIGTERMException (a SystemExit): stopped from outside, not a crash
            self.writer.emit(
                "stopped",
                epoch=trainer.current_epoch,
                step=trainer.global_step,
                reason=type(exception).__name__,
                metrics=scalar_metrics(trainer),
            )
            return
        self.writer.emit(
            "failed",
            epoch=trainer.current_epoch,
            step=trainer.global_step,
            error=f"{type(exception).__name__}: {exception}",
            traceback="".join(traceback.format_exception(exception))[-4000:],
        )

    def _eta(self, now: float, step: int) -> float | None:
        """Seconds left at this session's average pace (validation time included)."""
        done = step - self._start[1]
        if not self._total_steps or done <= 0:
            return None
        return round((now - self._start[0]) / done * max(0, self._total_steps - step), 1)

    def _report_checkpoints(self, trainer: pl.Trainer, emit: bool = True) -> None:
        """Emit ``checkpoint`` for each checkpoint file that is new or rewritten since last time."""
        paths: list[tuple[str, str]] = []
        for cb in trainer.checkpoint_callbacks:
            if isinstance(cb, ModelCheckpoint):
                paths += [("last", cb.last_model_path), ("best", cb.best_model_path)]
        paths += [("last", s.saved_path) for s in _stoppers(trainer) if s.saved_path]
        # After a stop mid-epoch Lightning has moved on to the next epoch; the files have not.
        cut = [s.stopped_epoch for s in _stoppers(trainer) if s.mid_epoch]
        epoch = cut[0] if cut and cut[0] is not None else trainer.current_epoch
        for kind, path in paths:
            if not path:
                continue
            try:
                mtime = os.stat(path).st_mtime_ns
            except OSError:
                continue
            if self._reported.get(path) == mtime:
                continue
            self._reported[path] = mtime
            if emit:
                self.writer.emit(
                    "checkpoint",
                    kind=kind,
                    path=str(path),
                    epoch=epoch,
                    step=trainer.global_step,
                )


def _stoppers(trainer: pl.Trainer) -> list[GracefulStopCallback]:
    return [cb for cb in trainer.callbacks if isinstance(cb, GracefulStopCallback)]
