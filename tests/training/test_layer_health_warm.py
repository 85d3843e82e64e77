"""Layer health loads its statistics kernels while the run starts, not in epoch 1's first sample."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from layerscope.engine.training.callbacks import layer_health
from layerscope.engine.training.callbacks.layer_health import LayerHealthCallback


def test_setup_warms_the_kernels_on_a_thread_once(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    calls: list[int] = []
    monkeypatch.setattr(layer_health, "_warm_kernels", lambda bins: calls.append(bins))
    cb = LayerHealthCallback(tmp_path, bins=32)
    trainer = SimpleNamespace(default_root_dir=str(tmp_path), is_global_zero=True)
    cb.setup(trainer, None, "fit")
    cb.setup(trainer, None, "validate")  # a second stage does not start another
    assert cb._warm is not None
    cb._warm.join(timeout=30)
    assert calls == [32]


@pytest.mark.parametrize("rank_zero, enabled", [(False, True), (True, False)])
def test_no_warm_up_off_rank_zero_or_when_disabled(tmp_path, rank_zero, enabled) -> None:  # noqa: ANN001
    cb = LayerHealthCallback(tmp_path, enabled=enabled)
    cb.setup(SimpleNamespace(default_root_dir=str(tmp_path), is_global_zero=rank_zero), None, "fit")
    assert cb._warm is None


def test_the_warm_up_computes_real_statistics() -> None:
    layer_health._warm_kernels(16)  # raises nothing; the kernels (when numba is there) are loaded
    from layerscope.engine import kernels

    assert kernels._compiled.cache_info().currsize == 1
