"""Run folders with layer health for the Layer health view's tests, made by the engine itself:
a tiny digits recipe whose ``features.3`` is killed after step ``K`` (a collapse on purpose),
and one written record by record with the engine's ``HealthWriter`` for exact layouts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

K = 8  # the optimizer step from which the collapsed layer outputs zeros
EVERY = 2
COLLAPSED = "features.3"
T0 = 1_795_600_000.0  # fixed event times: stable snapshots


def collapsed_recipe_run(run_dir: Path) -> Path:
    """Train SmallCNN on 256 digits for one epoch (16 steps) with health every 2 steps;
    ``features.3`` outputs zeros from step ``K`` on. Returns the run folder (it has last.ckpt)."""
    import pytorch_lightning as pl
    import torch

    from layerscope.engine.training.build import build_run
    from layerscope.engine.training.config import from_dict

    cfg = from_dict(
        {
            "name": "collapse",
            "model": {"arch": "smallcnn"},
            "data": {"kind": "digits", "batch_size": 16, "max_samples": 256},
            "optimizer": {"name": "adam", "lr": 0.01},
            "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1,
                        "limit_val_batches": 2},
            "logging": {"progress_every": 2, "grad_norm_every": 2, "num_samples": 4,
                        "artifacts": False},
            "export": {"onnx": False},
            "health": {"every": EVERY},
        }
    )  # fmt: skip
    torch.manual_seed(0)
    parts = build_run(cfg, run_dir)
    module = parts.module

    def kill(_m: Any, _a: Any, out: Any) -> Any:
        return out * 0 if module.global_step >= K else out

    module.model.features[3].register_forward_hook(kill)
    trainer = pl.Trainer(**{**parts.trainer_kwargs, "max_epochs": 1}, callbacks=parts.callbacks)
    trainer.fit(module, datamodule=parts.datamodule)
    # What makes a folder a run for the Runs screen (launch_run writes the full recipe).
    (run_dir / "config.yaml").write_text("name: collapse\nmodel: {arch: smallcnn}\n")
    return run_dir


def written_run(
    run_dir: Path, layers: int = 6, records: int = 40, alert_at: tuple[int, int] | None = (3, 20)
) -> Path:
    """A run folder with ``records`` samples of ``layers`` layers (seeded values), layer
    ``alert_at[0]`` collapsed from step ``alert_at[1]`` on with its alert (``None``: neither);
    no checkpoint."""
    from layerscope.engine.training.health import FIELDS, HealthWriter, record_dtype

    rng = np.random.default_rng(0)
    names = [{"name": f"block{i}.conv", "kind": "Conv2d", "params": []} for i in range(layers)]
    w = HealthWriter(run_dir)
    w.open(names, [], bins=16, every=2)
    dtype = record_dtype(layers, 0, 16)
    row, at = alert_at if alert_at is not None else (-1, 1 << 60)
    for r in range(records):
        rec = np.zeros((), dtype=dtype)
        rec["step"] = 2 * r
        block = rec["layer"]
        block[:, FIELDS.index("act_std")] = np.exp(rng.normal(0, 1, layers))
        block[:, FIELDS.index("act_mean")] = rng.normal(0, 1, layers)
        block[:, FIELDS.index("act_zero_fraction")] = rng.uniform(0, 0.5, layers)
        block[:, FIELDS.index("grad_norm")] = np.exp(rng.normal(-3, 1, layers))
        block[:, FIELDS.index("update_ratio")] = np.exp(rng.normal(-7, 1, layers))
        block[:, FIELDS.index("hist_lo")] = -1.0
        block[:, FIELDS.index("hist_hi")] = 1.0
        rec["hist"] = rng.integers(0, 100, (layers, 16))
        if 2 * r >= at:
            block[row, FIELDS.index("act_std")] = 0.0
        w.append(rec)
    alert = {
        "event": "alert", "time": T0 + 5, "rule": "collapse", "layer": f"block{row}.conv",
        "step": at, "value": 0.0, "threshold": 0.05,
        "message": f"layer block{row}.conv collapsed at step {at}: activation std 0 < 0.05 × "
        "its early 1", "stop": False,
    }  # fmt: skip
    started = {"event": "started", "time": T0, "run": run_dir.name, "pid": 1, "max_epochs": 1}
    events = (started, alert) if alert_at is not None else (started,)
    (run_dir / "events.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in events), encoding="utf-8"
    )
    (run_dir / "config.yaml").write_text("name: written\nmodel: {arch: smallcnn}\n")
    return run_dir
