"""Handled error paths and graceful stops: each would surface as a crash or a hang without its handling."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from loguru import logger
from training_helpers import read_json

from layerscope.engine.errors import InputError
from layerscope.engine.training.callbacks import (
    DatasetStatisticsCallback,
    EventsCallback,
    GracefulStopCallback,
    OnnxExportCallback,
    SampleVisualizationCallback,
)
from layerscope.engine.training.callbacks import onnx_export as onnx_module
from layerscope.engine.training.callbacks._render import Renderer
from layerscope.engine.training.config import DataConfig
from layerscope.engine.training.data import ImageDataModule
from layerscope.engine.training.events import EventWriter, follow_lines, read_events
from layerscope.engine.training.module import ClassifierModule
from layerscope.engine.training.runs import resume_run, run_process_alive, stop_run
from layerscope.engine.zoo import SmallCNN


def _logs() -> tuple[list[str], int]:
    lines: list[str] = []
    return lines, logger.add(lines.append, format="{message}")


class _At(pl.Callback):
    """Runs ``action`` once, at training batch ``at``."""

    def __init__(self, at: int, action) -> None:  # noqa: ANN001
        self.at, self.action, self.done = at, action, False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if batch_idx == self.at and not self.done:
            self.done = True
            self.action()


def _fit_with_stopper(
    tmp_path: Path, stopper: GracefulStopCallback, trigger: pl.Callback
) -> pl.Trainer:
    dm = ImageDataModule(DataConfig(batch_size=16, max_samples=320))  # 20 batches per epoch
    events = EventsCallback(tmp_path, every_n_steps=1)  # finds the stopper among the callbacks
    trainer = pl.Trainer(
        max_epochs=3, logger=False, enable_progress_bar=False, enable_checkpointing=False,
        limit_val_batches=1, callbacks=[trigger, stopper, events],
    )  # fmt: skip
    trainer.fit(ClassifierModule(SmallCNN()), datamodule=dm)
    return trainer


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_sigterm_is_a_graceful_stop_not_lightnings_abort(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    ckpt = tmp_path / "last.ckpt"
    stopper = GracefulStopCallback(checkpoint_path=ckpt, check_every=1)
    # Lightning's own SIGTERM handler would raise SIGTERMException out of fit().
    trainer = _fit_with_stopper(
        tmp_path, stopper, _At(2, lambda: os.kill(os.getpid(), signal.SIGTERM))
    )
    assert stopper.requested and trainer.global_step <= 4
    assert (
        ckpt.is_file()
        and torch.load(ckpt, weights_only=False)["global_step"] == trainer.global_step
    )
    assert read_events(tmp_path)[-1]["event"] == "stopped"
    assert signal.getsignal(signal.SIGTERM) == before  # Lightning restores the original handler


def test_stop_file_stops_at_the_next_check(tmp_path: Path) -> None:
    stop_file = tmp_path / "STOP"
    stopper = GracefulStopCallback(
        stop_file, tmp_path / "last.ckpt", check_every=4, handle_sigterm=False
    )
    trainer = _fit_with_stopper(tmp_path, stopper, _At(1, stop_file.touch))
    assert stopper.requested and trainer.global_step == 5  # seen at batch 4, after batch 1 asked
    assert stopper.saved_path == str(tmp_path / "last.ckpt")
    kinds = [e["event"] for e in read_events(tmp_path)]
    assert kinds[-2:] == ["checkpoint", "stopped"]


def test_renderer_logs_a_broken_figure_and_keeps_going(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    lines, sink = _logs()
    r = Renderer()
    try:
        r.submit(tmp_path / "bad.png", lambda: 1 / 0)
        r.submit(tmp_path / "good.png", lambda: Figure(figsize=(1, 1)))
        assert r.flush(timeout=30)
    finally:
        logger.remove(sink)
    assert (tmp_path / "good.png").is_file() and not (tmp_path / "bad.png").exists()
    assert any("could not render" in m and "bad.png" in m for m in lines)


def test_renderer_latest_figure_wins(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    gate, drawn = threading.Event(), []

    def slow() -> Figure:
        gate.wait(10)
        return Figure(figsize=(1, 1))

    def titled(t: str):  # noqa: ANN202
        def build() -> Figure:
            drawn.append(t)
            return Figure(figsize=(1, 1))

        return build

    r = Renderer()
    r.submit(tmp_path / "a.png", slow)
    time.sleep(0.05)  # the worker is now busy with a.png
    r.submit(tmp_path / "b.png", titled("old"))
    r.submit(tmp_path / "b.png", titled("new"))
    gate.set()
    assert r.flush(timeout=30)
    assert drawn == ["new"]


def test_onnx_mismatch_is_recorded_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_module, "verify_onnx", lambda net, path, inputs: 0.5)
    lines, sink = _logs()
    trainer = SimpleNamespace(is_global_zero=True, datamodule=None)
    try:
        OnnxExportCallback(tmp_path).on_fit_end(trainer, ClassifierModule(SmallCNN()))  # type: ignore[arg-type]
    finally:
        logger.remove(sink)
    record = read_json(tmp_path / "onnx_export.json")
    assert record["verified"] is False and record["max_abs_diff"] == 0.5
    assert (tmp_path / "model.onnx").is_file()
    assert any("differs from PyTorch" in m for m in lines)


def test_dataset_statistics_skips_without_targets(tmp_path: Path) -> None:
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(4, 3, 8, 8)))
    trainer = SimpleNamespace(is_global_zero=True, datamodule=None, train_dataloader=loader)
    lines, sink = _logs()
    try:
        DatasetStatisticsCallback(tmp_path).on_train_start(trainer, ClassifierModule(SmallCNN()))  # type: ignore[arg-type]
    finally:
        logger.remove(sink)
    assert not (tmp_path / "dataset_statistics.json").exists()
    assert any("dataset statistics skipped" in m for m in lines)


def test_callback_arguments_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="every_n_steps must be at least 1, got 0"):
        EventsCallback(tmp_path, every_n_steps=0)
    with pytest.raises(ValueError, match="needs run_dir or writer"):
        EventsCallback()
    with pytest.raises(ValueError, match="check_every must be at least 1"):
        GracefulStopCallback(check_every=0)
    with pytest.raises(ValueError, match="num_samples must be at least 1"):
        SampleVisualizationCallback(tmp_path, num_samples=0)


def test_follow_lines_waits_for_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    stop = threading.Event()
    got: list[str] = []
    reader = threading.Thread(
        target=lambda: got.extend(follow_lines(path, stop, poll_interval=0.01))
    )
    reader.start()
    with path.open("a") as fh:
        fh.write('{"event": "a"}\n{"event": ')
        fh.flush()
        time.sleep(0.1)
        fh.write('"b"}\n')
    time.sleep(0.1)
    stop.set()
    reader.join(5)
    assert got == ['{"event": "a"}', '{"event": "b"}']  # never the torn half-line


def test_read_events_skips_a_torn_last_line(tmp_path: Path) -> None:
    EventWriter(tmp_path).emit("started")
    with (tmp_path / "events.jsonl").open("a") as fh:
        fh.write('{"event": "prog')
    assert [e["event"] for e in read_events(tmp_path)] == ["started"]


def test_resume_refuses_a_running_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("name: x\n")
    # A stand-in process whose command line names the run module, as a real run's does.
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "layerscope.engine.training.process"]
    )
    try:
        (run_dir / "run.pid").write_text(str(proc.pid))
        assert run_process_alive(run_dir)
        with pytest.raises(InputError, match="is still running; stop it first"):
            resume_run(run_dir)
        assert stop_run(run_dir)
        assert (run_dir / "STOP").is_file()
        assert proc.wait(timeout=10) == -signal.SIGTERM
        assert not run_process_alive(run_dir)
    finally:
        proc.kill()


def test_tail_log_and_format_event(tmp_path: Path) -> None:
    from layerscope.engine.training.events import format_event, tail_log

    (tmp_path / "train.log").write_text("line one\nline two\n")
    assert list(tail_log(tmp_path)) == ["line one", "line two"]  # no live process: ends at EOF
    line = format_event(
        {"event": "progress", "time": 0, "epoch": 1, "step": 30, "total_steps": 90, "loss": 0.5,
         "lr": 0.001, "samples_per_sec": 812.3, "eta_s": 125.0}
    )  # fmt: skip
    assert "epoch 2 step 30/90 loss 0.5000 lr 0.001 812 img/s eta 2:05" in line  # counted from 1
    failed = format_event({"event": "failed", "time": 0, "error": "RuntimeError: boom"})
    assert failed.endswith("run failed: RuntimeError: boom")
