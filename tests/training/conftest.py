"""Fixtures for the training tests."""

from __future__ import annotations

import pytest
from training_helpers import tiny_config

from layerscope.engine.training.config import RunConfig


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    """One intra-op thread here and in child runs: on a shared 2-core machine, two OpenMP threads
    per process oversubscribe the cores and a step gets ~10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny() -> RunConfig:
    return tiny_config()
