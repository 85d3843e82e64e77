"""The figure worker runs below the training process's priority: on a 2-core machine torch's
threads and a matplotlib drawing competed for the same cores and the epochs took longer."""

from __future__ import annotations

import functools
import os
import pickle

import pytest

from layerscope.engine.training.callbacks._render import _start_worker
from layerscope.engine.training.render_worker import NICENESS


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="POSIX priorities")
def test_the_worker_lowers_its_priority_before_its_first_answer() -> None:
    worker = _start_worker()
    try:
        job = pickle.dumps(("/nonexistent/never.png", functools.partial(int, "not a figure")))
        worker.stdin.write(len(job).to_bytes(8, "big") + job)
        worker.stdin.flush()
        answer = worker.stdout.readline()  # the job failed: the worker is up and has answered
        assert answer.startswith(b"err ValueError")
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(ours + NICENESS, 19)
    finally:
        worker.stdin.close()
        worker.wait(timeout=60)
