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
