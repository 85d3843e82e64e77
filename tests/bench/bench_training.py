"""Observability overhead: epoch time with every callback and the events stream vs a bare fit.

Same module, same data (the digits recipe, ``configs/resnet8_digits.yaml``), same process; the
variants (bare, full, full without figures: ``logging.artifacts=false``) alternate so that load
on a shared machine hits them alike. Goal: ratio <= 1.05. The PNGs (curves, confusion matrix,
sample grid) are drawn by a worker process (``layerscope.engine.training.render_worker``), so the
training loop neither draws nor waits on the GIL for them; while the training keeps every core
busy (here: always) they wait for a spare core or the end of fit. The CPU-time ratio counts this
process only. The last epoch includes ``renderer.flush()``: what is left queued is drawn then, so the ratios are printed over all epochs (the summary row), in steady state (first
and last epoch of each fit left out) and for the last epoch alone. ``--every-epoch`` adds the
variant ``logging.every_epoch_figures=true`` (every epoch's PNGs kept: the queue as it was).

    .venv/bin/python tests/bench/bench_training.py [--epochs 6] [--repeats 3] [--threads 1]
        [--every-epoch]
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
            self.flush = (0, 0.0)  # figures queued or being drawn when fit ended, flush seconds

        @staticmethod
        def now() -> tuple[float, float]:
            # process_time counts every thread of the process, the figure renderer included
            return time.perf_counter(), time.process_time()

        def on_train_epoch_start(self, trainer, pl_module) -> None:  # noqa: ANN001
            self.starts.append(self.now())

        def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            from layerscope.engine.training.callbacks._render import renderer

            queued = len(renderer._pending) + renderer._busy
            t0 = time.perf_counter()
            renderer.flush()  # the last epoch's figures belong to the last epoch
            self.end = self.now()
            self.flush = (queued, self.end[0] - t0)

        def epochs(self) -> list[tuple[float, float]]:
            bounds = [*self.starts, self.end]
            return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(bounds, bounds[1:], strict=False)]

    return EpochTimer()


def fit(
    variant: str, epochs: int, out: Path
) -> tuple[list[tuple[float, float]], float, tuple[int, float]]:
    """One fit: [(wall, cpu) seconds per epoch], whole-fit wall seconds, and (figures queued or
    being drawn when training ended, seconds the final flush took)."""
    import pytorch_lightning as pl

    from layerscope.engine.training.build import build_run
    from layerscope.engine.training.config import load_config

    sets = [f"trainer.max_epochs={epochs}"]
    if variant == "no-figures":
        sets.append("logging.artifacts=false")
    if variant == "every-epoch":
        sets.append("logging.every_epoch_figures=true")
    cfg = load_config(ROOT / "configs" / "resnet8_digits.yaml", sets)
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
    return timer.epochs(), time.perf_counter() - t0, timer.flush


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--every-epoch", action="store_true", help="add logging.every_epoch_figures=true"
    )
    args = parser.parse_args()
    if args.epochs < 3:
        parser.error("--epochs must be at least 3 (steady state leaves out the first and last)")

    import torch
    from loguru import logger

    logger.remove()  # the callbacks' log lines are not what is measured here
    if args.threads:
        torch.set_num_threads(args.threads)
    fit("bare", 1, Path(tempfile.mkdtemp()))  # warm-up: imports, allocator, digits cache
    variants = ("bare", "full", "no-figures", *(("every-epoch",) if args.every_epoch else ()))
    walls: dict[str, list[float]] = {v: [] for v in variants}  # every epoch
    steady: dict[str, list[float]] = {v: [] for v in variants}  # first and last left out
    last: dict[str, list[float]] = {v: [] for v in variants}  # the last (flush included)
    cpus: dict[str, list[float]] = {v: [] for v in variants}
    fits: dict[str, list[float]] = {v: [] for v in variants}
    flushes: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeats):
        for variant in variants:
            with tempfile.TemporaryDirectory() as tmp:
                epochs, total, (queued, flush_s) = fit(variant, args.epochs, Path(tmp))
            wall = [w for w, _ in epochs]
            walls[variant] += wall
            steady[variant] += wall[1:-1]
            last[variant].append(wall[-1])
            cpus[variant] += [c for _, c in epochs]
            fits[variant].append(total)
            flushes[variant].append(flush_s)
            shown = " ".join(f"{w:.2f}/{c:.2f}" for w, c in epochs)
            print(
                f"{variant:11s} epochs (wall/cpu s) {shown}; fit {total:.2f} s; "
                f"at the end {queued} figures queued, flush {flush_s:.2f} s",
                flush=True,
            )

    def ratio(d: dict[str, list[float]], variant: str = "full") -> float:
        return statistics.median(d[variant]) / statistics.median(d["bare"])

    def each(d: dict[str, list[float]]) -> str:
        return ", ".join(f"{v} {statistics.median(d[v]):.3f}" for v in variants)

    def ratios(d: dict[str, list[float]]) -> str:
        return ", ".join(f"{v} {ratio(d, v):.3f}" for v in variants if v != "bare")

    print(f"median epoch wall (s): {each(walls)}")
    print(f"epoch wall-time ratio / bare, all epochs (goal <= 1.05): {ratios(walls)}")
    print(f"epoch wall-time ratio / bare, steady state (first and last left out): {ratios(steady)}")
    print(f"last epoch (renderer.flush included) median wall (s): {each(last)}")
    print(f"of which the final renderer.flush, median (s): {each(flushes)}")
    print(f"epoch CPU-time ratio / bare (all threads): {ratios(cpus)}")
    print(f"whole fit ratio / bare (start-up, checkpoints and ONNX export): {ratios(fits)}")
    from layerscope.engine.training.callbacks._render import renderer

    print(
        f"figures drawn by the render worker process: {renderer.offloaded}; "
        f"queued per-epoch figures replaced by a newer epoch's: {renderer.skipped}"
    )
    print(f"torch threads: {torch.get_num_threads()}, cores: {os.cpu_count()}")
    from benchrows import row

    row("training", f"{ratio(walls):.3f}x epoch wall (CPU {ratio(cpus):.3f}x, "
        f"{len(walls['full'])} epochs each)", "bare Trainer.fit 1.00x", ratio(walls) <= 1.05)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
