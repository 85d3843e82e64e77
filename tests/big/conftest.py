"""Big-checkpoint fixtures: small sharded safetensors folders written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from big_models import make_weights, write_sharded


@pytest.fixture
def weights() -> dict[str, torch.Tensor]:
    return make_weights()


@pytest.fixture
def sharded(tmp_path: Path, weights: dict[str, torch.Tensor]) -> Path:
    return write_sharded(tmp_path / "llama-tiny", weights)
