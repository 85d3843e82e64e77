"""``GracefulStopCallback``: stop on SIGTERM or a stop file, at a batch boundary, with a checkpoint."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from loguru import logger
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

from layerscope.engine.io import temp_path_for


class GracefulStopCallback(Callback):
    """Ends ``fit`` cleanly when asked and saves a checkpoint at ``checkpoint_path``.

    A stop is asked for by :meth:`request` (the run process calls it from its SIGTERM handler)
    or by creating ``stop_file``. Both are checked every ``check_every`` batches; under DDP the
    decision is reduced over ranks so every rank leaves the loop at the same step.

    Args:
        stop_file: a file whose appearance means "stop".
        checkpoint_path: where the stop checkpoint goes (``last.ckpt`` for resuming).
        check_every: batches between checks (the stop file is a ``stat``; the DDP reduce a collective).
        handle_sigterm: replace Lightning's SIGTERM handler, which aborts ``fit`` with an
            exception (meant for SLURM requeueing), by one that asks for a graceful stop.
    """

    def __init__(
        self,
        stop_file: str | Path | None = None,
        checkpoint_path: str | Path | None = None,
        check_every: int = 5,
        handle_sigterm: bool = True,
    ) -> None:
        if check_every < 1:
            raise ValueError(f"check_every must be at least 1, got {check_every}")
        self.stop_file = Path(stop_file) if stop_file else None
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.check_every = check_every
        self.handle_sigterm = handle_sigterm
        self._asked = threading.Event()
        self.requested = False  # the stop the loop acted on (agreed by all ranks)
        self.saved_path: str | None = None
        # Where the stop happened (0-based epoch, optimizer steps) and whether it cut that epoch
        # short: the events and history must not count a partial epoch as done.
        self.stopped_epoch: int | None = None
        self.stopped_step: int | None = None
        self.mid_epoch = False
        self._pending: Path | None = None  # the checkpoint saved at the stop, moved at the end

    def request(self, *_: Any) -> None:
        """Ask for a stop (safe to call from a signal handler)."""
        self._asked.set()

    def install_signal_handler(self) -> None:
        """Route SIGTERM to :meth:`request` (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request)

    def _asked_locally(self) -> bool:
        if self._asked.is_set():
            return True
        if self.stop_file is not None and self.stop_file.exists():
            self._asked.set()
            return True
        return False

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning registers its own SIGTERM handler just before training starts; take it back.
        if self.handle_sigterm:
            self.install_signal_handler()

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.requested or batch_idx % self.check_every != 0:
            return
        asked = self._asked_locally()
        if trainer.world_size > 1:
            asked = trainer.strategy.reduce_boolean_decision(asked, all=False)
        if asked:
            if trainer.is_global_zero:
                logger.info("stop requested: finishing at step {}", trainer.global_step)
            self.requested = True
            self.stopped_epoch, self.stopped_step = trainer.current_epoch, trainer.global_step
            self.mid_epoch = batch_idx + 1 < trainer.num_training_batches
            if self.mid_epoch:
                # No validation of a partial epoch: its metrics would pass for the epoch's, and
                # ModelCheckpoint would save (and version) files the stop checkpoint knows nothing of.
                loop = trainer.fit_loop.epoch_loop
                if hasattr(loop, "_skip_next_val"):
                    loop._skip_next_val = True
            if self.checkpoint_path is not None and self.mid_epoch:
                # Saved now, at a batch boundary, to a temp file: Lightning would otherwise close
                # the epoch (end hooks, counters, a last.ckpt from ModelCheckpoint) before
                # on_train_end, and a resume from that state skips the rest of the epoch. A
                # checkpoint taken in on_train_batch_end resumes at the next batch.
                self._pending = temp_path_for(self.checkpoint_path)
                if trainer.world_size > 1:  # one name for all ranks: rank zero's
                    self._pending = trainer.strategy.broadcast(self._pending)
                trainer.save_checkpoint(self._pending)  # collective under DDP
            trainer.should_stop = True

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.requested and self.checkpoint_path is not None and self._pending is None:
            trainer.save_checkpoint(self.checkpoint_path)  # collective under DDP
            self.saved_path = str(self.checkpoint_path)

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Here, not in on_train_end: Lightning runs ModelCheckpoint's hooks last, and its
        # on_train_end writes last.ckpt (the closed epoch) when it has not saved one yet.
        if self._pending is not None and self.checkpoint_path is not None:
            if trainer.is_global_zero:  # the state at the stop replaces any later last.ckpt
                os.replace(self._pending, self.checkpoint_path)
            trainer.strategy.barrier("GracefulStopCallback.on_fit_end")
            self._pending = None
            self.saved_path = str(self.checkpoint_path)


def stopped_mid_epoch(trainer: pl.Trainer) -> bool:
    """Whether a graceful stop cut the current epoch short (its end hooks still run: skip them)."""
    return any(isinstance(cb, GracefulStopCallback) and cb.mid_epoch for cb in trainer.callbacks)
