"""Figures wait while the training keeps every core busy, and are drawn when a core is idle,
when they have waited ``max_wait``, or at ``flush`` (by its caller: no worker started for them).

No timing decides an outcome here: the gate is a stub, and ``SpareCore`` runs on fake clocks.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from layerscope.engine.training.callbacks import _render
from layerscope.engine.training.callbacks._render import Renderer, SpareCore, kind_slot


def test_spare_core_answers_from_the_cpu_used_over_the_last_window() -> None:
    now, used = [0.0], [0.0]
    gate = SpareCore(cores=2, window=1.0, clock=lambda: now[0], cpu=lambda: used[0])
    assert gate()  # nothing measured yet: draw
    now[0], used[0] = 1.0, 1.9  # torch kept both cores busy
    assert not gate()
    now[0], used[0] = 1.5, 2.8  # within the window: the last answer
    assert not gate()
    now[0], used[0] = 2.5, 3.2  # 1.3 s of CPU over 1.5 s: a core left idle
    assert gate()


def test_spare_core_on_many_cores_lets_a_gpu_run_draw() -> None:
    now, used = [0.0], [0.0]
    gate = SpareCore(cores=16, window=1.0, clock=lambda: now[0], cpu=lambda: used[0])
    now[0], used[0] = 2.0, 3.0  # one and a half cores busy
    assert gate()


def test_one_core_never_counts_as_spare_while_the_process_works() -> None:
    now, used = [0.0], [0.0]
    gate = SpareCore(cores=1, window=1.0, clock=lambda: now[0], cpu=lambda: used[0])
    now[0], used[0] = 1.0, 0.5
    assert not gate()


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``save_figure`` writes the figure's text and records which thread drew it."""
    by: dict[str, str] = {}

    def save(fig: Any, path: Path) -> None:
        by[path.name] = threading.current_thread().name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(fig))

    monkeypatch.setattr(_render, "save_figure", save)
    return by


class Closed:
    """A gate that says no, and lets a test wait until the thread has asked it twice."""

    def __init__(self) -> None:
        self.asked = 0
        self.twice = threading.Event()

    def __call__(self) -> bool:
        self.asked += 1
        if self.asked >= 2:
            self.twice.set()
        return False


def test_held_figures_wait_and_flush_draws_them_itself(
    drawn: dict[str, str], tmp_path: Path
) -> None:
    gate = Closed()
    r = Renderer(gate=gate, max_wait=1e9)
    r.submit(tmp_path / "loss.png", lambda: "curve")
    assert gate.twice.wait(30)  # the thread asked, and asked again: still held
    assert drawn == {}
    assert r.flush(timeout=30)
    assert drawn == {"loss.png": threading.current_thread().name}
    assert r._worker is None  # no interpreter started for a held queue


def test_a_held_queue_keeps_only_the_newest_epoch_of_a_slot(
    drawn: dict[str, str], tmp_path: Path
) -> None:
    r = Renderer(gate=Closed(), max_wait=1e9)
    slot = kind_slot(tmp_path, "confusion_matrix.png", every_epoch=False)
    paths = [tmp_path / f"epoch_{e:03d}" / "confusion_matrix.png" for e in range(4)]
    for e, path in enumerate(paths):
        r.submit(path, lambda e=e: f"epoch {e}", slot=slot)
    assert r.flush(timeout=30)
    assert [p.is_file() for p in paths] == [False, False, False, True]
    assert r.skipped == 3


def test_figures_held_for_max_wait_are_drawn_without_flush(
    drawn: dict[str, str], tmp_path: Path
) -> None:
    r = Renderer(gate=Closed(), max_wait=0.0)
    done = threading.Event()
    r.submit(tmp_path / "a.png", lambda: "a")
    r.submit(tmp_path / "b.png", lambda: done.set() or "b")
    assert done.wait(30)
    assert r.flush(timeout=30)
    assert drawn == {"a.png": "layerscope-render", "b.png": "layerscope-render"}


def test_the_run_s_renderer_is_gated_by_a_spare_core() -> None:
    assert isinstance(_render.renderer._gate, SpareCore)
