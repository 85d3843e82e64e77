"""DataModule kinds, the tracking sampler and image-folder errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from training_helpers import tiny_config

from layerscope.engine.errors import ConfigError, InputError
from layerscope.engine.training.build import build_module
from layerscope.engine.training.config import DataConfig
from layerscope.engine.training.data import ImageDataModule, TrackingWeightedRandomSampler


def test_digits_split_and_normalisation() -> None:
    dm = ImageDataModule(DataConfig(kind="digits", val_split=0.2))
    dm.setup()
    assert len(dm.train_set) + len(dm.val_set) == 1797
    assert len(dm.val_set) == 359
    assert dm.class_names == [str(i) for i in range(10)]
    x, y = dm.train_set[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= int(y) < 10
    batch_x, _ = next(iter(dm.train_dataloader()))
    assert abs(float(batch_x.mean())) < 0.5  # normalised, not raw 0..255


def test_max_samples_caps_training_set() -> None:
    dm = ImageDataModule(DataConfig(max_samples=100))
    dm.setup()
    assert len(dm.train_set) == 100 and sum(dm.class_counts()) == 100


def test_tracking_sampler_records_last_draw() -> None:
    s = TrackingWeightedRandomSampler(
        torch.tensor([0.0, 1.0, 0.0, 3.0]), 50, generator=torch.Generator().manual_seed(0)
    )
    assert s._last_indices == []
    drawn = list(iter(s))
    assert s._last_indices == drawn and len(drawn) == 50
    assert set(drawn) <= {1, 3}  # zero-weight items are never drawn
    second = list(iter(s))
    assert s._last_indices == second


def test_weighted_sampler_balances_classes() -> None:
    dm = ImageDataModule(DataConfig(weighted_sampler=True, max_samples=300))
    dm.setup()
    loader = dm.train_dataloader()
    assert loader.sampler is dm.sampler
    for _ in loader:
        pass
    targets = dm.train_set.targets.numpy()
    drawn = np.bincount(targets[dm.sampler._last_indices], minlength=10)
    assert drawn.sum() == 300 and drawn.min() > 0


def _write_folder(root: Path, classes: dict[str, int]) -> None:
    from PIL import Image

    for i, (name, n) in enumerate(classes.items()):
        (root / name).mkdir(parents=True)
        for j in range(n):
            img = Image.new("RGB", (20, 12), color=(40 * i, 10 * j, 200))
            img.save(root / name / f"{j}.{'png' if j % 2 else 'jpg'}")


def test_image_folder(tmp_path: Path) -> None:
    _write_folder(tmp_path, {"cat": 5, "dog": 5, "eel": 4})
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    dm = ImageDataModule(
        DataConfig(kind="folder", path=str(tmp_path), val_split=0.25, image_size=16)
    )
    dm.setup()
    assert dm.class_names == ["cat", "dog", "eel"]
    assert len(dm.train_set) + len(dm.val_set) == 14
    assert dm.train_set[0][0].shape == (3, 16, 16)


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="image folder not found"):
        ImageDataModule(DataConfig(kind="folder", path=str(tmp_path / "nope"))).setup()
    _write_folder(tmp_path / "one", {"only": 2})
    with pytest.raises(InputError, match="one sub-folder per class"):
        ImageDataModule(DataConfig(kind="folder", path=str(tmp_path / "one"))).setup()
    (tmp_path / "empty" / "a").mkdir(parents=True)
    (tmp_path / "empty" / "b").mkdir()
    with pytest.raises(InputError, match="no images"):
        ImageDataModule(DataConfig(kind="folder", path=str(tmp_path / "empty"))).setup()
    _write_folder(tmp_path / "bad", {"a": 1, "b": 1})
    (tmp_path / "bad" / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    # One corrupt image is skipped and counted (tests/training/test_training_tasks.py); a
    # folder with nothing decodable is still an error that says so.
    for f in (p for p in (tmp_path / "bad").rglob("*") if p.is_file()):
        f.write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match=r"no images .*could not be decoded"):
        ImageDataModule(DataConfig(kind="folder", path=str(tmp_path / "bad"))).setup()


def test_cifar10_missing_folder_is_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAYERSCOPE_CIFAR10", raising=False)
    with pytest.raises(InputError, match="CIFAR-10 python folder not found"):
        ImageDataModule(DataConfig(kind="cifar10", path=str(tmp_path))).setup()


def test_num_classes_mismatch_is_config_error() -> None:
    cfg = tiny_config(model={"arch": "smallcnn", "num_classes": 5})
    with pytest.raises(
        ConfigError, match="model.num_classes is 5 but the digits data has 10 classes"
    ):
        build_module(cfg, 10)
