"""Observability overhead: epoch time with every callback and the events stream vs a bare fit.

Same module, same data (the digits recipe, ``configs/resnet8_digits.yaml``), same process; the two
variants alternate so that load on a shared machine hits both alike. Goal: ratio <= 1.05. The
PNGs (curves, confusion matrix, sample grid) are drawn by a worker process
(``layerscope.engine.training.render_worker``), so the training loop neither draws nor waits on the GIL
for them; the CPU-time ratio counts this process only, the worker's time is printed apart.

    .venv/bin/python tests/bench/bench_training.py [--epochs 4] [--repeats 2] [--threads 1]
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


def _timer():  # noqa: ANN202 - a Callback class made after the lazy import
    import pytorch_lightning as pl

    class EpochTimer(pl.Callback):
        """Wall time of each training epoch, validation and epoch-end hooks included."""

        def __init__(self) -> None:
            self.starts: list[tuple[float, float]] = []
            self.end = (0.0, 0.0)

        @staticmethod
        def now() -> tuple[float, float]:
            # process_time counts every thread of the process, the figure renderer included
            return time.perf_counter(), time.process_time()

        def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: ANN001
            self.starts.append(self.now())

        def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            from layerscope.engine.training.callbacks._render import renderer

            renderer.flush()  # the last epoch's figures belong to the last epoch
            self.end = self.now()

        def epochs(self) -> list[tuple[float, float]]:
            bounds = [*self.starts, self.end]
            return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(bounds, bounds[1:], strict=False)]

    return EpochTimer()


def fit(variant: str, epochs: int, out: Path) -> tuple[list[tuple[float, float]], float]:
    """One fit; returns ([(wall, cpu) seconds per epoch], whole-fit wall seconds)."""
    import pytorch_lightning as pl

    from layerscope.engine.training.build import build_run
    from layerscope.engine.training.config import load_config

    cfg = load_config(ROOT / "configs" / "resnet8_digits.yaml", [f"trainer.max_epochs={epochs}"])
    pl.seed_everything(0, verbose=False)
    parts = build_run(cfg, out)
    timer = _timer()
    if variant == "bare":
        trainer = pl.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            devices=1,
            gradient_clip_val=cfg.trainer.gradient_clip_val,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[timer],
        )
    else:
        trainer = pl.Trainer(**parts.trainer_kwargs, callbacks=[timer, *parts.callbacks])
    t0 = time.perf_counter()
    trainer.fit(parts.module, datamodule=parts.datamodule)
    return timer.epochs(), time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    import torch
    from loguru import logger

    logger.remove()  # the callbacks' log lines are not what is measured here
    if args.threads:
        torch.set_num_threads(args.threads)
    fit("bare", 1, Path(tempfile.mkdtemp()))  # warm-up: imports, allocator, digits cache
    walls: dict[str, list[float]] = {"bare": [], "full": []}
    cpus: dict[str, list[float]] = {"bare": [], "full": []}
    fits: dict[str, list[float]] = {"bare": [], "full": []}
    for _ in range(args.repeats):
        for variant in ("bare", "full"):
            with tempfile.TemporaryDirectory() as tmp:
                epochs, total = fit(variant, args.epochs, Path(tmp))
            walls[variant] += [w for w, _ in epochs]
            cpus[variant] += [c for _, c in epochs]
            fits[variant].append(total)
            shown = " ".join(f"{w:.2f}/{c:.2f}" for w, c in epochs)
            print(f"{variant:4s} epochs (wall/cpu s) {shown}; fit {total:.2f} s", flush=True)

    def ratio(d: dict[str, list[float]]) -> float:
        return statistics.median(d["full"]) / statistics.median(d["bare"])

    print(
        f"median epoch wall: bare {statistics.median(walls['bare']):.3f} s, "
        f"with callbacks + events {statistics.median(walls['full']):.3f} s"
    )
    print(f"epoch wall-time ratio, full / bare Trainer.fit (goal <= 1.05): {ratio(walls):.3f}")
    print(f"epoch CPU-time ratio (all threads): {ratio(cpus):.3f}")
    print(f"whole fit ratio (start-up, checkpoints and ONNX export included): {ratio(fits):.3f}")
    from layerscope.engine.training.callbacks._render import renderer

    print(f"figures drawn by the render worker process: {renderer.offloaded}")
    print(f"torch threads: {torch.get_num_threads()}, cores: {os.cpu_count()}")
    from benchrows import row

    row("training", f"{ratio(walls):.3f}x epoch wall (CPU {ratio(cpus):.3f}x, "
        f"{len(walls['full'])} epochs each)", "bare Trainer.fit 1.00x", ratio(walls) <= 1.05)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
