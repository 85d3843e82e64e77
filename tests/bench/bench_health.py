"""Layer health and gradient capture costs, printed as ratios against a baseline run alongside.

1. The layer-health callback at its default sampling (``health.every: auto``): epoch wall time of
   the digits recipe (ResNet-8) and of a deeper model (a 40-conv plain CNN) with the recipe's
   callbacks and health on vs the same with ``health.enabled=false``. The variants alternate so
   load on a shared machine hits both alike. Goal: <= 1.05.
2. ``capture(..., gradients=True)`` vs a bare forward + backward of the same model and batch
   (ResNet-8, 256 digits images). Goal: <= 2.5.
3. The engine's part of a heatmap redraw: ``HealthLog.refresh`` + ``matrix(max_columns=200)`` of
   100 layers × 10,000 records. Goal (the whole redraw): <= 100 ms.

    .venv/bin/python tests/bench/bench_health.py [--epochs 3] [--repeats 2] [--threads 1] [--quick]

``--quick`` only checks that the script runs (tiny sizes; its figures mean nothing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _epoch_timer():  # noqa: ANN202 - a Callback class made after the lazy import
    import pytorch_lightning as pl

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.starts: list[float] = []
            self.end = 0.0

        def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: ANN001
            self.starts.append(time.perf_counter())

        def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            self.end = time.perf_counter()

        def epochs(self) -> list[float]:
            bounds = [*self.starts, self.end]
            return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]

    return EpochTimer()


def deep_cnn(depth: int = 40, width: int = 16, num_classes: int = 10):  # noqa: ANN201
    """A plain CNN of ``depth`` conv/BN/ReLU blocks: ~3 × depth layers for the health callback."""
    from torch import nn

    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
    for i in range(depth - 1):
        stride = 2 if i in (depth // 3, 2 * depth // 3) else 1
        layers += [
            nn.Conv2d(width, width, 3, stride=stride, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
        ]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
    return nn.Sequential(*layers)


def fit(model: str, health: bool, epochs: int, out: Path, quick: bool) -> list[float]:
    import pytorch_lightning as pl

    from layerscope.engine.training.build import build_run
    from layerscope.engine.training.config import load_config

    sets = [
        f"trainer.max_epochs={epochs}",
        f"health.enabled={'true' if health else 'false'}",
        "export.onnx=false",  # end-of-fit work, not epoch time
    ]
    if quick:
        sets += ["trainer.limit_train_batches=4", "trainer.limit_val_batches=1"]
    cfg = load_config(ROOT / "configs" / "resnet8_digits.yaml", sets)
    pl.seed_everything(0, verbose=False)
    parts = build_run(cfg, out)
    if model == "deep":
        parts.module.model = deep_cnn(depth=8 if quick else 40)
    timer = _epoch_timer()
    trainer = pl.Trainer(**parts.trainer_kwargs, callbacks=[timer, *parts.callbacks])
    trainer.fit(parts.module, datamodule=parts.datamodule)
    return timer.epochs()


def bench_callback(args: argparse.Namespace) -> None:
    fit("resnet8", False, 1, Path(tempfile.mkdtemp()), True)  # warm-up: imports, digits cache
    for model in ("resnet8", "deep"):
        walls: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for health in (False, True):
                with tempfile.TemporaryDirectory() as tmp:
                    epochs = fit(model, health, args.epochs, Path(tmp), args.quick)
                    records = _records(Path(tmp)) if health else 0
                # The first epoch pays one-off costs (allocator, first samples): report the rest.
                kept = epochs[1:] or epochs
                walls[health] += kept
                shown = " ".join(f"{w:.2f}" for w in epochs)
                note = f"; {records} health records" if health else ""
                print(f"{model:7s} health={'on ' if health else 'off'} epochs {shown} s{note}")
        ratio = statistics.median(walls[True]) / statistics.median(walls[False])
        print(f"{model}: epoch wall-time ratio health on/off (goal <= 1.05): {ratio:.3f}")


def _records(run_dir: Path) -> int:
    from layerscope.engine.training.health import HealthLog

    log = HealthLog(run_dir)
    log.refresh()
    return len(log)


def bench_gradients(args: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F

    from layerscope.engine.capture import capture
    from layerscope.engine.inputs import load_input
    from layerscope.engine.zoo import ResNet8

    torch.manual_seed(0)
    model = ResNet8().eval()
    n = 16 if args.quick else 256
    x = load_input(f"digits:0-{n - 1}", input_shape=(3, 32, 32)).tensor
    reps = 2 if args.quick else 7

    def bare() -> None:
        model.zero_grad(set_to_none=True)
        out = model(x)
        F.cross_entropy(out, out.detach().argmax(1)).backward()
        model.zero_grad(set_to_none=True)

    def forward() -> None:
        with torch.no_grad():
            model(x)

    def timed(fn) -> float:  # noqa: ANN001
        fn()  # warm-up
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    t_bare = timed(bare)
    t_grad = timed(lambda: capture(model, x, gradients=True, target="predicted"))
    t_fwd = timed(forward)
    t_cap = timed(lambda: capture(model, x))
    print(f"ResNet-8, {n} images: forward+backward {1e3 * t_bare:.1f} ms, capture with gradients "
          f"{1e3 * t_grad:.1f} ms; forward {1e3 * t_fwd:.1f} ms, capture {1e3 * t_cap:.1f} ms")  # fmt: skip
    print(f"capture with gradients / bare forward+backward (goal <= 2.5): {t_grad / t_bare:.3f}")
    print(f"capture / bare forward (for reference): {t_cap / t_fwd:.3f}")


def bench_heatmap(args: argparse.Namespace) -> None:
    import numpy as np

    from layerscope.engine.training.health import FIELDS, HealthLog, HealthWriter, record_dtype

    layers, records = (100, 500) if args.quick else (100, 10_000)
    with tempfile.TemporaryDirectory() as tmp:
        w = HealthWriter(tmp)
        w.open(
            [{"name": f"l{i}", "kind": "Conv2d", "params": []} for i in range(layers)], [], 32, 10
        )
        data = np.zeros(records, dtype=record_dtype(layers, 0, 32))
        data["step"] = np.arange(records) * 10
        rng = np.random.default_rng(0)
        data["layer"][:, :, FIELDS.index("act_std")] = rng.random((records, layers))
        (Path(tmp) / "layer_health.bin").write_bytes(data.tobytes())
        t0 = time.perf_counter()
        log = HealthLog(tmp)
        log.refresh()
        t_read = time.perf_counter() - t0
        times = []
        for q in ("act_std", "act_zero_fraction", "grad_norm", "update_ratio") * 3:
            t0 = time.perf_counter()
            log.matrix(q, max_columns=200)
            times.append(time.perf_counter() - t0)
    print(f"heatmap data, {layers} layers × {records} records: first read {1e3 * t_read:.1f} ms, "
          f"matrix(max_columns=200) {1e3 * statistics.median(times):.2f} ms (goal for the whole "
          "redraw <= 100 ms)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script runs")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.repeats = 2, 1

    import torch
    from loguru import logger

    logger.remove()  # alert lines are not what is measured here
    if args.threads:
        torch.set_num_threads(args.threads)
    bench_heatmap(args)
    bench_gradients(args)
    bench_callback(args)
    print(f"torch threads: {torch.get_num_threads()}, cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
