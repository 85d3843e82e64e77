"""``TrainingHistoryCallback``: per-epoch metrics as ``history.json`` and loss/accuracy curves."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from typing_extensions import override

from layerscope.engine.training.callbacks._render import FigureCallback, renderer
from layerscope.engine.training.callbacks._util import epoch_metrics, scalar_metrics, task_of
from layerscope.engine.training.callbacks.graceful_stop import stopped_mid_epoch
from layerscope.engine.training.figures import _curves
from layerscope.engine.training.io import atomic_write_json
from layerscope.engine.training.paths import HISTORY_FILE

LOSS_CURVES = (("train_loss_epoch", "train loss"), ("val_loss", "val loss"))
ACC_CURVES = (("val_acc", "val top-1"), ("val_acc_top5", "val top-5"), ("train_acc", "train top-1"))
NOT_CURVES = ("epoch", "step", "lr")  # and grad norms: bookkeeping, not what is learnt


def curve_series(
    history: list[dict[str, Any]], task: str
) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """(figure name, ((key, label), ...)) for each curve figure: classification draws loss and
    accuracy; any other task draws its losses and the rest of what it logged per epoch."""
    if task == "classification":
        return [("loss", LOSS_CURVES), ("accuracy", ACC_CURVES)]
    keys = [
        k for k in dict.fromkeys(k for h in history for k in h)
        if k not in NOT_CURVES and not k.startswith("grad") and not k.endswith("_step")
    ]  # fmt: skip
    losses = tuple((k, k.replace("_", " ")) for k in keys if "loss" in k)
    others = tuple((k, k.replace("_", " ")) for k in keys if "loss" not in k)
    return [("loss", losses), ("metrics", others)]


class TrainingHistoryCallback(FigureCallback):
    """After each epoch: appends the metrics to ``history.json`` and redraws ``loss.png`` and
    ``accuracy.png`` (``metrics.png`` for tasks other than classification); at the end of fit
    writes ``metrics.json`` (final metrics, and the best epoch by ``monitor`` in the direction
    ``mode``: ``min`` or ``max``, by default from the metric's name, so ``val_loss`` is best
    at its minimum).

    The history is part of the checkpoint, and a resumed run also reloads ``history.json``: a
    checkpoint saved at validation end predates its own epoch's record. With
    ``background`` the curves are drawn on a background thread (flushed at the end of fit).
    """

    def __init__(
        self,
        out_dir: str | Path,
        monitor: str = "val_acc",
        plots: bool = True,
        background: bool = True,
        mode: str | None = None,
    ) -> None:
        from layerscope.engine.training.config import metric_mode

        if mode not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.background = background
        self.out_dir = Path(out_dir)
        self.monitor = monitor
        self.mode = mode or metric_mode(monitor)
        self.plots = plots
        self.history: list[dict[str, Any]] = []
        self._batches = 0  # trained in this session's current epoch

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.ckpt_path:  # resumed: the finished epochs on disk are part of the run
            self.history = _merge(_read_history(self.out_dir), self.history, trainer.current_epoch)

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._batches = 0

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

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        # An epoch cut short by a stop is not done (resuming finishes it); an epoch end that
        # Lightning replays on resume (no batch trained here) has no metrics: keep the record.
        if not self._batches or stopped_mid_epoch(trainer):
            return
        record: dict[str, Any] = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        record.update(epoch_metrics(trainer))
        if trainer.optimizers:
            record["lr"] = trainer.optimizers[0].param_groups[0]["lr"]
        # A resumed mid-epoch stop repeats its epoch: keep the newer record.
        self.history = [h for h in self.history if h["epoch"] != record["epoch"]] + [record]
        if not trainer.is_global_zero:
            return
        atomic_write_json(self.out_dir / HISTORY_FILE, self.history)
        if self.plots:
            history = list(
                self.history
            )  # a snapshot: the renderer may draw it after the next epoch
            for name, curves in curve_series(history, task_of(pl_module)):
                renderer.submit(
                    self.out_dir / f"{name}.png",
                    functools.partial(_curves, history, curves, name),
                    self.background,
                )

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_fit_end(trainer, pl_module)  # every figure on disk first
        if not trainer.is_global_zero:
            return
        final = scalar_metrics(trainer)
        pick = min if self.mode == "min" else max
        best = pick(
            (h for h in self.history if self.monitor in h),
            key=lambda h: h[self.monitor],
            default=None,
        )
        atomic_write_json(
            self.out_dir / "metrics.json",
            {
                "epochs": len(self.history),
                "step": trainer.global_step,
                "final": final,
                "best": {
                    "metric": self.monitor,
                    "mode": self.mode,
                    "value": best[self.monitor],
                    "epoch": best["epoch"],
                }
                if best
                else None,
            },
        )

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))


def _read_history(out_dir: Path) -> list[dict[str, Any]]:
    """The records of ``history.json`` (none when it is missing or unreadable)."""
    try:
        data = json.loads((out_dir / HISTORY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, list):
        return []
    return [h for h in data if isinstance(h, dict) and isinstance(h.get("epoch"), int)]


def _merge(
    on_disk: list[dict[str, Any]], restored: list[dict[str, Any]], epoch: int
) -> list[dict[str, Any]]:
    """One record per epoch up to ``epoch`` (the one being resumed), the checkpoint's winning."""
    by_epoch = {h["epoch"]: h for h in on_disk if h["epoch"] <= epoch}
    by_epoch.update({h["epoch"]: h for h in restored if h.get("epoch") is not None})
    return [by_epoch[e] for e in sorted(by_epoch)]
