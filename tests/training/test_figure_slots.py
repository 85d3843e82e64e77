"""The figure queue is latest-wins per slot (issue 14 s3): with the worker starved while torch
holds every core, each epoch's confusion matrix and sample grid queued up (different paths) and
the end of fit drew the whole backlog (~180 ms CPU per epoch). The per-epoch figures now share a
slot per run and kind, so a newer epoch's figure replaces a still-queued older one;
``logging.every_epoch_figures`` (slot = path) keeps them all. No timing: the worker is held on
an Event while the later epochs arrive."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from layerscope.engine.errors import ConfigError
from layerscope.engine.training.build import build_callbacks
from layerscope.engine.training.callbacks import _render
from layerscope.engine.training.callbacks import confusion_matrix as cm_module
from layerscope.engine.training.callbacks import regression_samples as reg_module
from layerscope.engine.training.callbacks import sample_visualization as grid_module
from layerscope.engine.training.callbacks._render import Renderer, kind_slot
from layerscope.engine.training.config import LoggingConfig, from_dict


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """A Renderer drawing in-process (lambdas never go to the worker process) whose first
    figure blocks until released; ``save_figure`` writes the figure's text instead of a PNG."""
    monkeypatch.setattr(_render, "save_figure", lambda fig, path: _write(path, fig))
    started, release = threading.Event(), threading.Event()

    def blocked() -> str:
        started.set()
        assert release.wait(30), "never released"
        return "first"

    r = Renderer()
    yield r, blocked, started, release
    release.set()
    assert r.flush(timeout=30)


def _write(path: Path, text: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(text))


def _epoch_figures(
    r: Renderer, blocked: Any, started: threading.Event, out: Path, slot: Any
) -> list[Path]:
    """Epochs 0..3 of one figure; the worker is stuck drawing epoch 0 while 1..3 arrive."""
    paths = [out / f"epoch_{e:03d}" / "confusion_matrix.png" for e in range(4)]
    r.submit(paths[0], blocked, slot=slot)
    assert started.wait(30)  # the worker holds epoch 0's figure: what follows queues
    for e in (1, 2, 3):
        r.submit(paths[e], lambda e=e: f"epoch {e}", slot=slot)
    return paths


def test_a_newer_epoch_replaces_the_queued_figure_of_its_slot(held, tmp_path: Path) -> None:
    r, blocked, started, release = held
    paths = _epoch_figures(r, blocked, started, tmp_path, kind_slot(tmp_path, "cm", False))
    release.set()
    assert r.flush(timeout=30)
    # the one being drawn is not cancelled; 1 and 2 were replaced while queued; 3 is the newest
    assert [p.is_file() for p in paths] == [True, False, False, True]
    assert paths[0].read_text() == "first" and paths[3].read_text() == "epoch 3"
    assert r.skipped == 2


def test_slot_per_path_keeps_every_epoch(held, tmp_path: Path) -> None:
    r, blocked, started, release = held
    paths = _epoch_figures(r, blocked, started, tmp_path, kind_slot(tmp_path, "cm", True))
    release.set()
    assert r.flush(timeout=30)
    assert [p.read_text() for p in paths] == ["first", "epoch 1", "epoch 2", "epoch 3"]
    assert r.skipped == 0


def test_curves_still_coalesce_per_path_and_kinds_and_runs_do_not(held, tmp_path: Path) -> None:
    r, blocked, started, release = held
    r.submit(tmp_path / "first.png", blocked)
    assert started.wait(30)
    drawn: list[str] = []

    def build(text: str) -> Any:
        return lambda: drawn.append(text) or text

    for epoch in range(3):  # curves: one path redrawn each epoch, no slot
        r.submit(tmp_path / "loss.png", build(f"loss {epoch}"))
    for run in ("a", "b"):  # the same kind in two run folders: two slots
        folder = tmp_path / run
        r.submit(folder / "epoch_000" / "samples.png", build(f"{run} samples"),
                 slot=kind_slot(folder, "samples.png", False))  # fmt: skip
        r.submit(folder / "epoch_000" / "cm.png", build(f"{run} cm"),
                 slot=kind_slot(folder, "cm.png", False))  # fmt: skip
    release.set()
    assert r.flush(timeout=30)
    assert drawn == ["loss 2", "a samples", "a cm", "b samples", "b cm"]
    assert r.skipped == 0  # same path replaced: nothing goes missing


def test_flush_drawing_the_queue_itself_draws_only_the_newest(
    held, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the worker cannot be lifted out of SCHED_IDLE, flush's caller draws the queue: one
    figure per slot, not the backlog."""
    import os

    r, blocked, started, release = held
    monkeypatch.setattr(_render, "_set_policy", lambda pid, name: False)

    class Running:  # a live worker process, so that flush takes the drawing-here path
        pid = os.getpid()

        def poll(self) -> None:
            return None

    paths = _epoch_figures(r, blocked, started, tmp_path, kind_slot(tmp_path, "cm", False))
    r._worker = Running()  # type: ignore[assignment]
    drawer = threading.Thread(target=r.flush, kwargs={"timeout": 30})
    drawer.start()
    for _ in range(3000):  # epoch 3 is drawn by flush's caller while the worker is stuck
        if paths[3].is_file():
            break
        threading.Event().wait(0.01)
    release.set()
    drawer.join(30)
    assert [p.is_file() for p in paths] == [True, False, False, True]


# --- the callbacks pass a slot per kind (or none with every_epoch) ---------------------------


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Path, Any]] = []

    def submit(self, path: Path, build: Any, background: bool = True, slot: Any = None) -> None:
        self.calls.append((path, slot))


def _trainer(epoch: int) -> SimpleNamespace:
    return SimpleNamespace(
        sanity_checking=False, is_global_zero=True, current_epoch=epoch, datamodule=None
    )


class _Metric:
    def compute(self) -> torch.Tensor:
        return torch.eye(3, dtype=torch.int64)

    def reset(self) -> None:
        pass


@pytest.mark.parametrize("every_epoch", [False, True])
def test_per_epoch_callbacks_submit_one_slot_per_kind(
    every_epoch: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = _Recorder()
    for module in (cm_module, grid_module, reg_module):
        monkeypatch.setattr(module, "renderer", rec)
    cm = cm_module.ConfusionMatrixCallback(tmp_path, num_classes=3, every_epoch=every_epoch)
    cm.metric, cm.class_names = _Metric(), ["a", "b", "c"]
    grid = grid_module.SampleVisualizationCallback(tmp_path, 2, every_epoch=every_epoch)
    reg = reg_module.RegressionSamplesCallback(tmp_path, 2, every_epoch=every_epoch)
    module = SimpleNamespace(num_classes=3)
    for epoch in (0, 1):
        cm.on_validation_epoch_end(_trainer(epoch), module)  # type: ignore[arg-type]
        grid._batch = (torch.zeros(2, 1, 4, 4), torch.tensor([0, 1]), torch.tensor([1, 1]))
        grid.on_validation_epoch_end(_trainer(epoch), module)  # type: ignore[arg-type]
        reg._batch = (torch.zeros(2, 3), torch.zeros(2, 1), torch.ones(2, 1))
        reg.on_validation_epoch_end(_trainer(epoch), module)  # type: ignore[arg-type]
    names = [(p.parent.name, p.name) for p, _ in rec.calls]
    assert names == [
        (f"epoch_{e:03d}", n)
        for e in (0, 1)
        for n in ("confusion_matrix.png", "samples.png", "samples.png")
    ]
    slots = [slot for _, slot in rec.calls]
    if every_epoch:
        assert slots == [None] * 6  # the path: every epoch's figure is kept
    else:
        cm_slot, samples_slot = slots[0], slots[1]
        assert cm_slot is not None and cm_slot != samples_slot
        assert slots == [cm_slot, samples_slot, samples_slot] * 2  # the same across epochs


# --- logging.every_epoch_figures --------------------------------------------------------------


def test_every_epoch_figures_defaults_false_and_parses() -> None:
    assert LoggingConfig().every_epoch_figures is False
    assert from_dict({}).logging.every_epoch_figures is False
    assert from_dict({"logging": {"every_epoch_figures": True}}).logging.every_epoch_figures
    assert from_dict({"logging": {"every_epoch_figures": "on"}}).logging.every_epoch_figures


@pytest.mark.parametrize("value", [3, "sometimes", [True]])
def test_every_epoch_figures_rejects_a_non_bool_in_one_line(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        from_dict({"logging": {"every_epoch_figures": value}})
    message = str(info.value)
    assert "logging.every_epoch_figures must be true or false" in message
    assert "\n" not in message


def test_unknown_logging_key_lists_the_new_one_in_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        from_dict({"logging": {"every_epoch_figure": True}})
    message = str(info.value)
    assert "unknown key 'logging.every_epoch_figure'" in message
    assert "every_epoch_figures" in message and "\n" not in message


@pytest.mark.parametrize("every_epoch", [False, True])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_build_wires_the_switch_to_the_figure_callbacks(
    every_epoch: bool, task: str, tmp_path: Path
) -> None:
    data = {"kind": "arrays", "path": "x.npz", "inputs": "x", "targets": "y"}
    cfg = from_dict(
        {
            "task": task,
            "data": data if task == "regression" else {},
            "logging": {"every_epoch_figures": every_epoch},
        }
    )
    per_epoch = (
        cm_module.ConfusionMatrixCallback,
        grid_module.SampleVisualizationCallback,
        reg_module.RegressionSamplesCallback,
    )
    found = [c for c in build_callbacks(cfg, tmp_path) if isinstance(c, per_epoch)]
    assert len(found) == (2 if task == "classification" else 1)
    assert all(c.every_epoch is every_epoch for c in found)
