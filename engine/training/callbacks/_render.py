"""Figures rendered off the training loop (private).

Drawing a PNG with matplotlib costs tenths of a second; done inline at every epoch end it adds
up to more than the overhead budget, and even on a thread it holds the GIL the training loop
needs. One daemon thread takes submitted figures while training continues (a newer figure for
the same *slot* replaces a stale queued one: see :meth:`Renderer.submit`) and hands each to a
worker process (``layerscope.engine.training.render_worker``) when the figure is a ``functools.partial`` of a
module-level function with picklable arguments (``layerscope.engine.training.figures``), as the callbacks
submit them; anything else (a lambda), or every figure
once the worker cannot be started, is drawn on the thread. The run's renderer draws only while
the training leaves a core idle (:class:`SpareCore`); otherwise figures wait, at most
``MAX_WAIT_S``. Callbacks call :func:`flush` at the end of fit so every PNG exists before the
run reports ``finished``. Only the object-oriented
Matplotlib API is used (no pyplot state).
"""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from loguru import logger
from pytorch_lightning.callbacks import Callback
from typing_extensions import override

from layerscope.engine.training.io import save_figure

# While the training keeps every core busy, held figures are still drawn this often, so a long
# run's PNGs are never more than this old (a set costs ~0.2 s of CPU).
MAX_WAIT_S = 600.0
_POLL_S = 0.5  # how often a held queue asks whether a core is idle now


class SpareCore:
    """Does this process leave a core idle? Its CPU time (every thread) over the wall time
    since the last look, at least ``window`` seconds apart (the last answer in between).

    The figure worker is idle-scheduled, but on a machine whose cores torch keeps busy it still
    costs the training steps time: it runs in every short gap, and the torch thread it delays
    holds the others at their next barrier (about 10% of an epoch on 2 cores, bench_training).
    A GPU run uses one or two of many cores: its figures are drawn as they come.
    """

    def __init__(
        self,
        cores: int | None = None,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.process_time,
    ) -> None:
        self.cores = cores or _usable_cores()
        self.window, self._clock, self._cpu = window, clock, cpu
        self._last = (clock(), cpu())
        self._answer = True

    def __call__(self) -> bool:
        now, used = self._clock(), self._cpu()
        wall = now - self._last[0]
        if wall >= self.window:
            self._answer = (used - self._last[1]) / wall <= self.cores - 1
            self._last = (now, used)
        return self._answer


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Renderer:
    """A single background worker that builds and saves figures, latest-wins per slot.

    ``gate`` says whether to draw now (default: always); while it says no, figures wait (a
    newer one of the same slot still replaces a waiting one) until it says yes, until
    ``max_wait`` seconds passed (then the whole queue is drawn), or until :meth:`flush`.
    """

    def __init__(
        self, gate: Callable[[], bool] | None = None, max_wait: float = MAX_WAIT_S
    ) -> None:
        self._cv = threading.Condition()
        self._pending: dict[Hashable, tuple[Path, Callable[[], Any]]] = {}  # slot: (path, build)
        self._gate = gate
        self.max_wait = max_wait
        self._held_since: float | None = None  # when the queue last went from empty to not
        self._draining = False  # max_wait passed: draw until the queue is empty
        self._flushing = False
        self._here = False  # flush's caller draws the queue: the thread takes no more
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
            if not self._pending:
                self._held_since = time.monotonic()
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
        # Drawn here: when no worker runs yet (starting one, a new interpreter importing
        # matplotlib, costs more than the few figures a held queue keeps), or when the worker
        # stays idle-scheduled and a machine others keep busy may give it no CPU at all.
        here = pid is None or not lifted
        with self._cv:
            self._flushing, self._here = True, here
            self._cv.notify_all()
        try:
            if here:
                self._draw_queued_here()
            with self._cv:
                return self._cv.wait_for(lambda: not self._pending and not self._busy, timeout)
        finally:
            with self._cv:
                self._flushing = self._here = False
            if lifted:
                _set_policy(pid, "SCHED_IDLE")

    def _pop(self) -> tuple[Path, Callable[[], Any]]:
        """The oldest queued figure (under the lock)."""
        item = self._pending.pop(next(iter(self._pending)))
        if not self._pending:
            self._held_since, self._draining = None, False
        return item

    def _draw_queued_here(self) -> None:
        while True:
            with self._cv:
                if not self._pending:
                    return
                path, build = self._pop()
            _draw(path, build)

    def _may_draw(self) -> bool:
        """Whether the thread may take a figure now (under the lock)."""
        if self._here or not self._pending:
            return False
        if self._flushing or self._draining or self._gate is None or self._gate():
            return True
        held = self._held_since
        if held is not None and time.monotonic() - held >= self.max_wait:
            self._draining = True  # the whole queue, then hold again
            return True
        return False

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._may_draw():
                    # Held figures are asked about again every poll; none: sleep until submit.
                    self._cv.wait(timeout=_POLL_S if self._pending else None)
                path, build = self._pop()
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


# The run's figures: drawn as they come while the training leaves a core idle, else held.
renderer = Renderer(gate=SpareCore())


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
