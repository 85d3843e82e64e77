"""The figure worker is scheduled SCHED_IDLE while training runs: a nice-10 worker still took
~10% of an epoch's wall time on 2 cores whose torch threads it preempted (bench_training)."""

from __future__ import annotations

import os
import sys

import pytest

from layerscope.engine.training.callbacks import _render
from layerscope.engine.training.callbacks._render import Renderer, _start_worker

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's"
)


def _stop(worker) -> None:  # noqa: ANN001 - a Popen
    worker.stdin.close()
    worker.wait(timeout=60)


def test_the_worker_starts_idle_scheduled() -> None:
    worker = _start_worker()
    try:
        assert os.sched_getscheduler(worker.pid) == os.SCHED_IDLE
    finally:
        _stop(worker)


def test_flush_lifts_the_worker_while_waiting_and_lowers_it_again(monkeypatch) -> None:  # noqa: ANN001
    calls: list[tuple[int, str, bool]] = []
    real = _render._set_policy

    def spy(pid: int, name: str) -> bool:
        calls.append((pid, name, real(pid, name)))
        return calls[-1][2]

    r = Renderer()
    r._worker = worker = _start_worker()
    monkeypatch.setattr(_render, "_set_policy", spy)
    try:
        assert r.flush(timeout=5)
        pid, name, lifted = calls[0]
        assert (pid, name) == (worker.pid, "SCHED_OTHER")
        # permitted (privileged, or RLIMIT_NICE allows it): back to idle after the wait
        assert calls[1:] == ([(worker.pid, "SCHED_IDLE", True)] if lifted else [])
        assert os.sched_getscheduler(worker.pid) == os.SCHED_IDLE
    finally:
        _stop(worker)


def test_where_the_lift_is_refused_flush_draws_the_queue_itself(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    """Without privilege or RLIMIT_NICE the worker stays idle-scheduled, and a machine others keep
    busy may give it no CPU: the figures queued behind the one it is drawing are drawn by flush's
    caller instead of waiting (120 s, then missing)."""
    import threading

    monkeypatch.setattr(_render, "_set_policy", lambda pid, name: False)
    starved, drawn_by = threading.Event(), {}

    def offload(self, path, build) -> bool:  # noqa: ANN001 - the worker: stuck on its first job
        starved.wait(30)
        _render.save_figure(build(), path)
        return True

    def save(fig, path) -> None:  # noqa: ANN001
        drawn_by[path.name] = threading.current_thread().name
        path.write_text("png")
        if path.name == "c.png":
            starved.set()  # the queue is drawn: the worker may come back now

    monkeypatch.setattr(Renderer, "_offload", offload)
    monkeypatch.setattr(_render, "save_figure", save)
    r = Renderer()

    class Running:  # a worker process that is alive
        pid = os.getpid()

        def poll(self) -> None:
            return None

    r._worker = Running()
    for name in ("a.png", "b.png", "c.png"):
        r.submit(tmp_path / name, lambda: "figure")
    while not r._busy:  # the worker took a.png
        threading.Event().wait(0.01)
    assert r.flush(timeout=60)
    caller = threading.current_thread().name
    # Before the fix the worker drew all three, b and c only once a.png came back (30 s).
    assert drawn_by == {"a.png": "layerscope-render", "b.png": caller, "c.png": caller}
