"""A hand-written Lightning script with layerscope's callbacks (``layerscope.engine.training.hook.callbacks``)
shows up in the Runs screen while it trains, and the Train view follows it to the end: status,
the best of its own monitored metric (val_loss, lowest), and curves of what it logs."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from fake_runs import wait_for
from pilot_helpers import wait_idle
from rich.console import Console
from torch.utils.data import DataLoader, TensorDataset

from layerscope.tui.screens.runs import RunsScreen
from layerscope.tui.screens.train import TrainScreen
from layerscope.tui.widgets.run_curves import RunCurves
from layerscope.tui.widgets.run_table import RunTable
from tests.own_script_module import Denoiser


class HoldSecondEpoch(pl.Callback):
    """Keeps the script at the start of epoch 2 until the test has looked at the live run."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.go_on = threading.Event()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == 1:
            self.reached.set()
            self.go_on.wait(timeout=120)


def train_script(runs: Path, hold: HoldSecondEpoch, errors: list[BaseException]) -> None:
    """The user's script: their Trainer, their logger choice, one line of layerscope."""
    from layerscope.engine.training.hook import callbacks

    try:
        pl.seed_everything(0, verbose=False)
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(24, 6, generator=gen)
        y = x.flip(1)
        trainer = pl.Trainer(
            max_epochs=3,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[*callbacks(runs_dir=runs, name="smoother", grad_norm_every=0), hold],
        )
        trainer.fit(
            Denoiser(),
            DataLoader(TensorDataset(x[:16], y[:16]), batch_size=4),
            DataLoader(TensorDataset(x[16:], y[16:]), batch_size=4),
        )
    except BaseException as exc:  # noqa: BLE001 - the test reports it
        errors.append(exc)
        hold.reached.set()


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAYERSCOPE_RUNS", "runs")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    return Path("runs")


async def test_own_script_run_is_listed_live_and_followed_to_the_end(
    runs: Path, model_dir, make_app
) -> None:
    hold, errors = HoldSecondEpoch(), []
    script = threading.Thread(target=train_script, args=(runs, hold, errors), daemon=True)
    script.start()
    try:
        assert hold.reached.wait(timeout=120) and not errors, errors
        app = make_app(model_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("R")
            table = app.screen.query_one(RunTable)
            await wait_for(pilot, lambda: table.row_count == 1)
            assert isinstance(app.screen, RunsScreen)
            name, status, epoch, _ = (str(c) for c in table.get_row_at(0))
            assert name.endswith("-smoother") and status == "running"
            assert epoch == "1/3"  # the first epoch is done; the second has reported nothing yet

            await pilot.press("enter")  # follow it in the Train view
            await wait_for(pilot, lambda: isinstance(app.screen, TrainScreen))
            screen: TrainScreen = app.screen  # type: ignore[assignment]
            await wait_for(pilot, lambda: screen.run is not None and len(screen.run.history) == 1)
            assert screen.status.status_text == "running"
            assert screen.run.monitor == "val_loss" and screen.run.best[0] == "val_loss"
            curves = screen.query_one(RunCurves)
            assert [s[0] for s in curves.plotted] == ["train_loss", "val_loss", "val_mae"]

            hold.go_on.set()  # the script trains on, and ends
            await wait_for(pilot, lambda: screen.status.status_text == "finished", timeout=60)
            await wait_idle(pilot)
            history = screen.run.history
            assert len(history) == 3
            metric, best = screen.run.best
            assert metric == "val_loss" and best == min(h["val_loss"] for h in history)
            console = Console(width=80, record=True, file=io.StringIO())
            console.print(screen.status.render())
            shown = console.export_text()
            assert "best val_loss" in shown and f"{best:.4f}" in shown
            assert "best val_acc" not in shown
            assert len(curves.history) == 3 and "val mae (right)" in str(curves.border_title)

            await pilot.press("ctrl+r")  # back to the list: the best is named, val_loss not val_acc
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
            await wait_for(pilot, lambda: str(table.get_row_at(0)[1]) == "finished")
            assert str(table.get_row_at(0)[3]) == f"{best:.4g} val_loss"
    finally:
        hold.go_on.set()
        script.join(timeout=120)
    assert not errors, errors
