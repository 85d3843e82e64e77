"""Tasks beyond image classification: regression recipes, model.kwargs, array and module data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from training_helpers import assert_png, read_json, tiny_config

from layerscope.engine.errors import ConfigError, InputError
from layerscope.engine.training.build import build_data, build_module, build_run
from layerscope.engine.training.config import from_dict

ROOT = Path(__file__).resolve().parents[2]


def fno_npz(path: Path, n: int = 12, size: int = 16) -> Path:
    """Tiny image-to-image pairs (1×size×size in and out), as a user would save them."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 1, size, size)).astype(np.float32)
    np.savez(path, fields=x, smoothed=0.5 * x)
    return path


def regression_config(npz: Path, **sections: dict[str, Any]) -> Any:
    data: dict[str, Any] = {
        "name": "fno",
        "task": {"kind": "regression"},
        "model": {
            "arch": "layerscope.engine.training.fno:FNO2d",
            "kwargs": {"width": 4, "modes": 4, "layers": 1},
        },
        "data": {
            "kind": "arrays",
            "path": str(npz),
            "inputs": "fields",
            "targets": "smoothed",
            "val_split": 0.25,
            "batch_size": 4,
        },
        "trainer": {"max_epochs": 2, "accelerator": "cpu", "devices": 1},
        "logging": {"progress_every": 1, "grad_norm_every": 1, "num_samples": 2},
        "export": {"onnx": False},
    }
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    return from_dict(data)


def fit(cfg: Any, run_dir: Path) -> pl.Trainer:
    pl.seed_everything(0, verbose=False)
    parts = build_run(cfg, run_dir)
    trainer = pl.Trainer(**parts.trainer_kwargs, callbacks=parts.callbacks)
    trainer.fit(parts.module, datamodule=parts.datamodule)
    return trainer


# --- the recipe -------------------------------------------------------------------------------


def test_task_shorthand_and_model_kwargs_are_accepted(tmp_path: Path) -> None:
    cfg = regression_config(fno_npz(tmp_path / "d.npz"))
    assert from_dict({**cfg.to_dict(), "task": "regression"}).task.kind == "regression"
    assert cfg.task.kind == "regression"
    assert cfg.task.resolved_loss() == "mse"
    assert cfg.task.resolved_monitor() == "val_loss" and cfg.task.resolved_mode() == "min"
    assert cfg.model.kwargs == {"width": 4, "modes": 4, "layers": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data": {"kind": "digits"}}, "a regression task needs data.kind arrays or module"),
        ({"task": {"metrics": ["accuracy"]}}, "'accuracy' is not a regression metric"),
        ({"task": {"loss": "cross_entropy"}}, "cross_entropy is for classification"),
        ({"task": {"loss": "hinge"}}, "task.loss is 'hinge'"),
        ({"task": {"mode": "up"}}, "task.mode is 'up'"),
        ({"data": {"inputs": None}}, "data.kind arrays needs data.inputs"),
        ({"data": {"val_inputs": "fields"}}, "data.val_inputs and data.val_targets go together"),
        ({"model": {"kwargs": [1, 2]}}, "model.kwargs must be a mapping"),
    ],
)
def test_task_config_errors_name_the_key(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        regression_config(tmp_path / "d.npz", **change)


def test_model_kwargs_build_the_architecture_without_a_forced_num_classes(tmp_path: Path) -> None:
    cfg = regression_config(fno_npz(tmp_path / "d.npz"))
    module = build_module(cfg)
    out = module(torch.zeros(2, 1, 16, 16))
    assert out.shape == (2, 1, 16, 16)
    assert type(module.model).__name__ == "FNO2d"


def test_classifier_kwargs_reach_the_architecture() -> None:
    cfg = tiny_config(model={"arch": "smallcnn", "kwargs": {"width": 4}})
    module = build_module(cfg, 10)
    assert module.model.classifier.in_features == 8  # width 4 -> 8 features
    assert module.model.classifier.out_features == 10  # num_classes still from the data


# --- data -----------------------------------------------------------------------------------


def test_npz_arrays_by_name_with_a_seeded_split(tmp_path: Path) -> None:
    cfg = regression_config(fno_npz(tmp_path / "d.npz"))
    dm = build_data(cfg)
    assert len(dm.train_set) == 9 and len(dm.val_set) == 3
    x, y = dm.train_set[0]
    assert x.dtype == torch.float32 and x.shape == (1, 16, 16)
    torch.testing.assert_close(y, 0.5 * x)
    again = build_data(cfg)
    torch.testing.assert_close(again.val_set.inputs, dm.val_set.inputs)


def test_npy_folder_and_a_given_validation_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    folder = tmp_path / "arrays"
    folder.mkdir()
    for name, n in (("x", 6), ("y", 6), ("vx", 2), ("vy", 2)):
        np.save(folder / f"{name}.npy", rng.normal(size=(n, 3)).astype(np.float32))
    cfg = regression_config(
        folder,
        data={
            "path": str(folder),
            "inputs": "x",
            "targets": "y",
            "val_inputs": "vx",
            "val_targets": "vy",
        },
    )
    dm = build_data(cfg)
    assert len(dm.train_set) == 6 and len(dm.val_set) == 2
    torch.testing.assert_close(dm.val_set.inputs, torch.from_numpy(np.load(folder / "vx.npy")))


def test_a_missing_array_name_lists_the_names_there(tmp_path: Path) -> None:
    cfg = regression_config(fno_npz(tmp_path / "d.npz"), data={"targets": "nope"})
    with pytest.raises(InputError, match=r"no array 'nope' in d.npz; there: fields, smoothed"):
        build_data(cfg)


def test_module_function_returning_datasets_or_a_datamodule(tmp_path: Path) -> None:
    cfg = regression_config(
        tmp_path,
        data={"kind": "module", "source": "task_sources:image_pairs", "kwargs": {"n": 8}},
    )
    dm = build_data(cfg)
    assert len(dm.train_set) == 4 and len(dm.val_set) == 4
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 1, 16, 16)

    cfg = regression_config(
        tmp_path, data={"kind": "module", "source": "task_sources:vector_datamodule"}
    )
    assert type(build_data(cfg)).__name__ == "VectorData"

    cfg = regression_config(tmp_path, data={"kind": "module", "source": "task_sources:not_data"})
    with pytest.raises(InputError, match="returned int; return a LightningDataModule"):
        build_data(cfg)


# --- training -------------------------------------------------------------------------------


def test_regression_recipe_trains_the_fno_with_metrics_curves_checkpoints_and_samples(
    tmp_path: Path,
) -> None:
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO")
    try:
        cfg = regression_config(
            fno_npz(tmp_path / "d.npz"), task={"metrics": ["mse", "mae", "psnr", "ssim"]}
        )
        out = tmp_path / "run"
        fit(cfg, out)
    finally:
        logger.remove(sink)
    history = read_json(out / "history.json")
    assert [h["epoch"] for h in history] == [0, 1]
    assert {"val_loss", "val_mse", "val_mae", "val_psnr", "val_ssim"} <= history[-1].keys()
    metrics = read_json(out / "metrics.json")
    best = min(h["val_loss"] for h in history)
    assert metrics["best"] == {
        "metric": "val_loss",
        "mode": "min",
        "value": best,
        "epoch": next(h["epoch"] for h in history if h["val_loss"] == best),
    }
    for png in ("loss.png", "metrics.png", "epoch_001/samples.png"):  # the last epoch's: certain
        assert_png(out / png)
    assert (out / "last.ckpt").is_file() and list(out.glob("best-epoch*.ckpt"))
    # the class-based views are off, and the log says why
    assert not list(out.glob("epoch_*/confusion_matrix.*"))
    assert not (out / "labels_mapping.json").exists()
    assert any("off: the task is regression" in line for line in lines)
    info = read_json(out / "model_info.json")
    assert info["task"] == "regression" and info["architecture"] == "FNO2d"
    assert info["preprocessing"]["inputs"] == "fields"


def test_a_module_function_loss_and_classification_f1(tmp_path: Path) -> None:
    cfg = regression_config(fno_npz(tmp_path / "d.npz"), task={"loss": "task_sources:half_mse"})
    module = build_module(cfg)
    pred, target = torch.ones(2, 1, 16, 16), torch.zeros(2, 1, 16, 16)
    assert float(module.loss(pred, target)) == pytest.approx(0.5)

    cfg = tiny_config(task={"metrics": ["accuracy", "f1"]}, export={"onnx": False})
    out = tmp_path / "cls"
    fit(cfg, out)
    assert "val_f1" in read_json(out / "history.json")[0]
    assert "val_acc_top5" not in read_json(out / "history.json")[0]


def test_regression_scatter_for_vector_targets(tmp_path: Path) -> None:
    cfg = regression_config(
        tmp_path,
        model={"arch": "torch.nn:Linear", "kwargs": {"in_features": 4, "out_features": 4}},
        data={"kind": "module", "source": "task_sources:vector_datamodule"},
        trainer={"max_epochs": 1},
    )
    out = tmp_path / "vec"
    fit(cfg, out)
    assert_png(out / "epoch_000" / "samples.png")
    assert read_json(out / "metrics.json")["best"]["metric"] == "val_loss"


@pytest.mark.slow
def test_layerscope_train_runs_the_regression_recipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from layerscope.engine.cli import main

    npz = fno_npz(tmp_path / "d.npz")
    code = main(
        [
            "train",
            str(ROOT / "configs" / "fno_regression.yaml"),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--set",
            "data.kind=arrays",
            "--set",
            f"data.path={npz}",
            "--set",
            "data.inputs=fields",
            "--set",
            "data.targets=smoothed",
            "--set",
            "data.batch_size=4",
            "--set",
            "trainer.max_epochs=1",
            "--set",
            "trainer.accelerator=cpu",
            "--set",
            "model.kwargs={width: 4, modes: 4, layers: 1}",
            "--set",
            "export.onnx=false",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "run finished" in captured.out
    (run,) = (tmp_path / "runs").iterdir()
    assert read_json(run / "metrics.json")["best"]["metric"] == "val_loss"
    assert_png(run / "epoch_000" / "samples.png")


def test_shipped_fno_recipe_loads_and_passes_launch_checks(tmp_path: Path) -> None:
    from layerscope.engine.training.config import check_launch, load_config

    cfg = load_config(ROOT / "configs" / "fno_regression.yaml")
    assert (cfg.task.kind, cfg.task.resolved_monitor(), cfg.task.resolved_mode()) == (
        "regression",
        "val_loss",
        "min",
    )
    assert (
        cfg.model.arch == "layerscope.engine.training.fno:FNO2d"
        and cfg.model.kwargs["in_channels"] == 1
    )
    check_launch(cfg)
    with pytest.raises(ConfigError, match="data.path .*missing.npz does not exist"):
        check_launch(regression_config(tmp_path / "missing.npz"))
    bad = regression_config(tmp_path, data={"kind": "module", "source": "no_such_mod:f"})
    with pytest.raises(ConfigError, match="data.source 'no_such_mod:f' cannot be used"):
        check_launch(bad)
