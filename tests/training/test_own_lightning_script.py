"""A hand-written Lightning script (no recipe) with layerscope's callbacks added in one line: the
run is listed, tailed and compared like a recipe's, and the script's own logger keeps working."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset
from training_helpers import assert_png, read_json

from layerscope.engine.cli import main
from tests.own_script_module import Denoiser


def loaders() -> tuple[DataLoader, DataLoader]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(24, 6, generator=gen)
    y = x.flip(1)
    return (
        DataLoader(TensorDataset(x[:16], y[:16]), batch_size=4),
        DataLoader(TensorDataset(x[16:], y[16:]), batch_size=4),
    )


class SeeWhileRunning(pl.Callback):
    """What `layerscope runs` says about the run while it trains (the Runs screen's view)."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self.seen: list[dict[str, Any]] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from layerscope.engine.usecases.runs import list_runs

        self.seen += [r.to_dict() for r in list_runs(self.runs_dir)]


def test_own_script_run_is_listed_live_tailed_and_keeps_its_own_logger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytorch_lightning.loggers import CSVLogger

    from layerscope.engine.training.hook import callbacks

    runs = tmp_path / "runs"
    watch = SeeWhileRunning(runs)
    pl.seed_everything(0, verbose=False)
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=CSVLogger(tmp_path / "csv"),  # the user's logger stays
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        callbacks=[watch, *callbacks(runs_dir=runs, name="denoiser", grad_norm_every=2)],
    )
    trainer.fit(Denoiser(), *loaders())

    # live: the listing saw it running, at its epoch
    assert [r["status"] for r in watch.seen] == ["running", "running"]
    assert watch.seen[0]["name"].endswith("-denoiser")

    (run,) = runs.iterdir()
    assert read_json(run / "run.json")["format"] == "layerscope.run"
    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "finished" and row["epoch"] == 1
    history = read_json(run / "history.json")
    assert row["best_metric"] == "val_loss"
    assert row["best_value"] == min(h["val_loss"] for h in history)  # lower is better
    assert row["files"]["checkpoint"] == str(run / "last.ckpt")
    assert {"train_loss_epoch", "val_loss", "val_mae"} <= history[0].keys()
    assert_png(run / "loss.png")
    assert_png(run / "metrics.png")
    assert_png(run / "epoch_001" / "samples.png")  # prediction vs target scatter
    assert (run / "grad_norms.jsonl").is_file()
    assert "width: 8" in (run / "hparams.yaml").read_text()
    # the user's CSV logger wrote its metrics too
    (metrics_csv,) = (tmp_path / "csv").rglob("metrics.csv")
    assert "val_loss" in metrics_csv.read_text()

    assert main(["runs", "--runs-dir", str(runs), "tail", "denoiser", "--no-follow"]) == 0
    out = capsys.readouterr().out
    assert "run started" in out and "epoch 2 done" in out and "run finished" in out


def test_own_script_runs_compare_with_hparams(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from layerscope.engine.training.hook import callbacks
    from layerscope.engine.usecases.run_compare import compare_run_dirs

    runs = tmp_path / "runs"
    for lr in (0.05, 0.01):
        pl.seed_everything(0, verbose=False)
        trainer = pl.Trainer(
            max_epochs=1,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=callbacks(run_dir=runs / f"lr{lr}", artifacts=False, grad_norm_every=0),
        )
        trainer.fit(Denoiser(lr=lr), *loaders())
    assert main(["runs", "--runs-dir", str(runs), "compare", "lr0.05", "lr0.01", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert ["lr", 0.05, 0.01] in table["rows"]
    comparison = compare_run_dirs([runs / "lr0.05", runs / "lr0.01"])
    assert [p.key for p in comparison.differing] == ["lr"]
    assert all(len(r.series["val_loss"]) == 1 for r in comparison.runs)


def test_resuming_a_script_run_says_to_resume_from_the_script(tmp_path: Path) -> None:
    from layerscope.engine.errors import InputError
    from layerscope.engine.training.hook import write_run_marker
    from layerscope.engine.training.runs import resume_run

    run = tmp_path / "runs" / "20260101-000000-mine"
    run.mkdir(parents=True)
    write_run_marker(run, "mine")
    (run / "run.pid").write_text("999999999 1\n")  # long gone
    (run / "last.ckpt").write_bytes(b"")
    with pytest.raises(InputError, match=r"trained by a script.*ckpt_path='.*last\.ckpt'"):
        resume_run(run)
