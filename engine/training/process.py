"""The run process: ``python -m layerscope.engine.training.process RUN_DIR [--resume]``.

Started detached (its own session) by :func:`layerscope.engine.training.runs.launch_run`, so it outlives the
terminal, the TUI and the SSH session. Under DDP, Lightning re-runs this same command for the
other ranks; only global rank zero writes events, logs and artifacts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

from layerscope.engine.errors import ConfigError
from layerscope.engine.training.paths import (
    CONFIG_FILE,
    LAST_CKPT,
    LAUNCH_FILE,
    LOG_FILE,
    STOP_FILE,
)


def is_global_zero_env() -> bool:
    """Rank zero as far as the environment tells before the Trainer exists (Lightning, torchrun, SLURM)."""
    for var in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        if int(os.environ.get(var, "0") or 0) != 0:
            return False
    return True


class _InterceptHandler(logging.Handler):
    """Forwards stdlib logging (Lightning, warnings) into loguru, so ``train.log`` has it all."""

    def emit(self, record: logging.LogRecord) -> None:
        from loguru import logger

        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def _route_library_logging() -> None:
    """In the run process only: Lightning's logging and warnings go to loguru (and so train.log)."""
    import warnings

    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    logging.captureWarnings(True)
    # The run folder holds the config and logs before the first checkpoint: that is by design.
    warnings.filterwarnings("ignore", message=".*exists and is not empty")
    handler = _InterceptHandler()
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "py.warnings"):
        lg = logging.getLogger(name)
        lg.handlers = [handler]
        lg.propagate = False
        lg.setLevel(logging.INFO)


def run(run_dir: Path, resume: bool = False) -> int:
    """Train the run in ``run_dir`` (its ``config.yaml``); returns the exit status.

    Every way out leaves a terminal event: ``finished``, ``stopped`` or ``failed`` with the error.
    """
    import signal

    from loguru import logger

    from layerscope.engine.training.callbacks import GracefulStopCallback
    from layerscope.engine.training.events import EventWriter

    zero = is_global_zero_env()
    writer = EventWriter(run_dir)
    # From here every way out leaves a terminal event, so the launch marker has done its job.
    (run_dir / LAUNCH_FILE).unlink(missing_ok=True)
    stopper = GracefulStopCallback(run_dir / STOP_FILE, run_dir / LAST_CKPT)
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    stopper.install_signal_handler()  # a stop during start-up is a stop too, not a kill
    sink = (
        logger.add(run_dir / LOG_FILE, level="INFO", backtrace=False, diagnose=False)
        if zero
        else None
    )
    try:
        import pytorch_lightning as pl

        from layerscope.engine.training.build import build_run
        from layerscope.engine.training.config import load_config

        cfg = load_config(run_dir / CONFIG_FILE)
        ckpt = run_dir / LAST_CKPT if resume else None
        if ckpt is not None and not ckpt.is_file():
            raise ConfigError(f"cannot resume {run_dir.name}: it has no {LAST_CKPT}")
        pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)
        logger.info(
            "run {} ({}) pid {}", run_dir.name, "resume" if resume else "start", os.getpid()
        )
        parts = build_run(cfg, run_dir, writer=writer, stopper=stopper)
        trainer = pl.Trainer(**parts.trainer_kwargs, callbacks=parts.callbacks)
        trainer.fit(parts.module, datamodule=parts.datamodule, ckpt_path=ckpt)
    except BaseException as exc:  # noqa: BLE001 - every way out must leave a terminal event
        if zero and writer.terminal is None:
            stopped = isinstance(exc, KeyboardInterrupt) or (
                isinstance(exc, SystemExit) and not exc.code
            )
            writer.emit(
                "stopped" if stopped else "failed",
                error=f"{type(exc).__name__}: {exc}",
                traceback="".join(traceback.format_exception(exc))[-4000:],
            )
        if zero:
            logger.exception("run failed: {}", exc)
        return 0 if isinstance(exc, KeyboardInterrupt) else 1
    finally:
        if sink is not None:
            logger.remove(sink)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous_sigterm)
    if zero and writer.terminal is None:
        # fit returned without the events callback's terminal event (e.g. it was disabled)
        writer.emit("finished")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layerscope.engine.training.process")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.ckpt")
    args = parser.parse_args(argv)
    _route_library_logging()
    return run(args.run_dir.resolve(), resume=args.resume)


if __name__ == "__main__":
    sys.exit(main())
