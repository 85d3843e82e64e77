"""Figures rendered off the training loop (private).

Drawing a PNG with matplotlib costs tenths of a second; done inline at every epoch end it adds
up to more than the overhead budget, and even on a thread it holds the GIL the training loop
needs. One daemon thread takes submitted figures while training continues (a newer figure for
the same *slot* replaces a stale queued one: see :meth:`Renderer.submit`) and hands each to a
worker process (``layerscope.engine.training.render_worker``) when the figure is a ``functools.partial`` of a
module-level function with picklable arguments (``layerscope.engine.training.figures``), as the callbacks
submit them; anything else (a lambda), or every figure
once the worker cannot be started, is drawn on the thread. Callbacks call :func:`flush` at the
end of fit so every PNG exists before the run reports ``finished``. Only the object-oriented
Matplotlib API is used (no pyplot state).
"""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from loguru import logger
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

from layerscope.engine.training.io import save_figure


class Renderer:
    """A single background worker that builds and saves figures, latest-wins per slot."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._pending: dict[Hashable, tuple[Path, Callable[[], Any]]] = {}  # slot: (path, build)
        self._busy = False
        self._thread: threading.Thread | None = None
        self._worker: subprocess.Popen | None = None
        self._worker_failed = False
        self.offloaded = 0  # figures drawn by the worker process (tests, benchmarks)
        self.skipped = 0  # queued figures of another path replaced by a newer one of their slot

    def submit(
        self,
        path: Path,
        build: Callable[[], Any],
        background: bool = True,
        slot: Hashable | None = None,
    ) -> None:
        """Render ``build()`` (a Figure) to ``path``; inline when ``background`` is false.

        A figure still queued for the same ``slot`` (default: ``path``) is dropped for this
        one; one being drawn is not. The per-epoch figures pass a slot per run and kind, so a
        worker that falls behind the epochs (starved while training holds every core) draws
        the newest epoch's figure instead of a backlog that :meth:`flush` would draw at the
        end; a worker that keeps up still draws every epoch's.
        """
        if not background:
            save_figure(build(), path)
            return
        key = path if slot is None else slot
        with self._cv:
            stale = self._pending.pop(key, None)  # re-insert: keeps submission order
            if stale is not None and stale[0] != path:
                self.skipped += 1
                logger.debug("{} not drawn: {} replaced it in the queue", stale[0], path)
            self._pending[key] = (path, build)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="layerscope-render", daemon=True
                )
                self._thread.start()
            self._cv.notify_all()

    def flush(self, timeout: float | None = 120.0) -> bool:
        """Wait until every submitted figure is on disk; False if ``timeout`` passed first."""
        worker = self._worker
        pid = worker.pid if worker is not None and worker.poll() is None else None
        # Nothing trains while we wait: let the worker compete again where the OS allows it
        # (leaving SCHED_IDLE needs privilege or RLIMIT_NICE), so a busy machine cannot starve it.
        lifted = pid is not None and _set_policy(pid, "SCHED_OTHER")
        try:
            if pid is not None and not lifted:
                # Still idle-scheduled, the worker may get no CPU at all on a machine others
                # keep busy: what is queued is drawn here, at this process's priority.
                self._draw_queued_here()
            with self._cv:
                return self._cv.wait_for(lambda: not self._pending and not self._busy, timeout)
        finally:
            if lifted:
                _set_policy(pid, "SCHED_IDLE")

    def _draw_queued_here(self) -> None:
        while True:
            with self._cv:
                if not self._pending:
                    return
                path, build = self._pending.pop(next(iter(self._pending)))
            _draw(path, build)

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: bool(self._pending))
                path, build = self._pending.pop(next(iter(self._pending)))
                self._busy = True
            try:
                if not self._offload(path, build):
                    _draw(path, build)
            except Exception:  # a broken plot must not take the run down; it is logged
                logger.exception("could not render {}", path)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def _offload(self, path: Path, build: Callable[[], Any]) -> bool:
        """Draw in the worker process; False when this figure or this machine cannot."""
        if self._worker_failed or not _picklable(build):
            return False
        try:
            payload = pickle.dumps((str(path), build), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - an argument that does not pickle: draw it here
            return False
        worker = self._worker
        try:
            if worker is None or worker.poll() is not None:
                worker = self._worker = _start_worker()
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write(len(payload).to_bytes(8, "big") + payload)
            worker.stdin.flush()
            answer = worker.stdout.readline().decode("utf-8", "replace").strip()
        except (OSError, ValueError) as exc:
            self._worker_failed = True
            logger.info("figures are drawn in-process: the render worker failed ({})", exc)
            return False
        if not answer:  # the worker died mid-job
            self._worker_failed = True
            logger.info("figures are drawn in-process: the render worker exited")
            return False
        self.offloaded += 1
        if answer != "ok":
            raise RuntimeError(answer.removeprefix("err "))
        return True


def _draw(path: Path, build: Callable[[], Any]) -> None:
    """Draw in this process; a broken plot is logged, never raised into the run."""
    try:
        save_figure(build(), path)
    except Exception:  # noqa: BLE001
        logger.exception("could not render {}", path)


def _picklable(build: Callable[[], Any]) -> bool:
    """A partial of a module-level function (a lambda or closure stays in-process)."""
    if not isinstance(build, functools.partial):
        return False
    fn = build.func
    return "<" not in getattr(fn, "__qualname__", "<") and bool(getattr(fn, "__module__", None))


def _start_worker() -> subprocess.Popen:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[3])  # the folder holding `engine`
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "layerscope.engine.training.render_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    # Below nice 10 (which the worker sets itself): SCHED_IDLE runs the drawings only on cores
    # the training leaves idle. With torch's threads on every core, a nice-10 worker still took
    # ~10% of the epoch wall time on 2 cores (bench_training); idle-scheduled about a third of it.
    _set_policy(proc.pid, "SCHED_IDLE")
    return proc


def _set_policy(pid: int, name: str) -> bool:
    """Set a process's scheduling policy; False where the OS has no such policy or refuses."""
    policy = getattr(os, name, None)
    if policy is None or not hasattr(os, "sched_setscheduler"):  # not Linux
        return False
    try:
        os.sched_setscheduler(pid, policy, os.sched_param(0))
    except OSError:  # gone, or not permitted (leaving SCHED_IDLE without privilege)
        return False
    return True


def kind_slot(out_dir: Path, name: str, every_epoch: bool) -> Hashable | None:
    """The queue slot of a per-epoch figure: one per run folder and file name (latest epoch
    wins), or ``None`` (the path: every epoch's figure is kept) when ``every_epoch``."""
    return None if every_epoch else ("per-epoch", str(out_dir), name)


renderer = Renderer()


class FigureCallback(Callback):
    """Base of the callbacks that submit figures: waits for every submitted PNG at the end of
    fit (and when fit fails), so the run folder is complete before the run reports its end."""

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        renderer.flush()

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        renderer.flush()
