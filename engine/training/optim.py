"""Optimizer and learning-rate scheduler factory.

An unknown name raises :class:`~layerscope.engine.training.config.ConfigValueError`, which is both a
``ValueError`` (for Python callers) and a ``ConfigError`` (one line in the CLI), listing the valid names.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from layerscope.engine.training.config import (
    OPTIMIZERS,
    SCHEDULERS,
    ConfigValueError,
    OptimizerConfig,
    SchedulerConfig,
)


def build_optimizer(
    params: Iterable[torch.nn.Parameter] | Iterable[dict], cfg: OptimizerConfig
) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg.name`` with the hyperparameters that apply to it."""
    name = cfg.name.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
    raise ConfigValueError(f"unknown optimizer {cfg.name!r}; valid: {', '.join(OPTIMIZERS)}")


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    """LR multiplier: linear warm-up to 1, then cosine decay to ``min_lr_ratio`` at ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> torch.optim.lr_scheduler.LRScheduler:
    """PyTorch's own schedulers for :func:`warmup_cosine`: ``LinearLR`` from 1/warmup to 1 over
    the warm-up, then ``CosineAnnealingLR`` down to ``min_lr_ratio`` (``SequentialLR``)."""
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    base = [g["lr"] for g in optimizer.param_groups]
    span = max(1, total_steps - warmup_steps)
    # eta_min is absolute; one value for all groups (they share the base lr in these recipes).
    cosine_args = {"T_max": span, "eta_min": base[0] * min_lr_ratio}
    if warmup_steps < 1:
        return CosineAnnealingLR(optimizer, **cosine_args)
    warm = LinearLR(
        optimizer,
        start_factor=1.0 / warmup_steps,
        end_factor=1.0,
        total_iters=max(1, warmup_steps - 1),
    )
    cosine = CosineAnnealingLR(optimizer, **cosine_args)
    return SequentialLR(optimizer, [warm, cosine], milestones=[warmup_steps])


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    cfg: SchedulerConfig,
    *,
    steps_per_epoch: int,
    max_epochs: int,
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """A per-step scheduler attached to ``optimizer``, or ``None`` for ``name: none``."""
    name = cfg.name.lower()
    if name == "none":
        return None
    if name == "warmup_cosine":
        total = max(1, steps_per_epoch * max_epochs)
        warmup = max(0, min(total - 1, int(round(cfg.warmup_epochs * steps_per_epoch))))
        return warmup_cosine_scheduler(optimizer, warmup, total, cfg.min_lr_ratio)
    raise ConfigValueError(f"unknown scheduler {cfg.name!r}; valid: {', '.join(SCHEDULERS)}")
