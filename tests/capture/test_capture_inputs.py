"""Input specs → batches: datasets, files, normalisation and the errors users hit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layerscope.engine import datasets
from layerscope.engine.errors import InputError
from layerscope.engine.inputs import load_input, model_input_shape, parse_indices


def test_cifar10_sample_read_from_the_real_pickle_format(cifar_folder) -> None:
    folder, data, labels = cifar_folder
    b = load_input("cifar10:3", input_shape=(3, 32, 32), data_dir=folder)
    assert b.description.startswith("CIFAR-10 test[3] (label=cat)")
    assert b.labels == [labels[3]] and b.label_names == ["cat"]
    img = data[3].reshape(3, 32, 32).astype(np.float32) / 255.0
    mean = np.array(datasets.CIFAR10_MEAN, dtype=np.float32)[:, None, None]
    std = np.array(datasets.CIFAR10_STD, dtype=np.float32)[:, None, None]
    np.testing.assert_allclose(b.tensor[0].numpy(), (img - mean) / std, rtol=1e-5, atol=1e-6)
    assert b.normalization == {"name": "cifar10", "mean": list(datasets.CIFAR10_MEAN),
                               "std": list(datasets.CIFAR10_STD), "layout": "NCHW"}  # fmt: skip


def test_cifar10_range_and_max_samples(cifar_folder) -> None:
    folder, _, _ = cifar_folder
    b = load_input("cifar10:0-4", input_shape=(3, 32, 32), data_dir=folder, max_samples=3)
    assert b.tensor.shape == (3, 3, 32, 32) and b.indices == [0, 1, 2]
    assert "CIFAR-10 test[0-2] (3 images)" in b.description


def test_cifar10_folder_from_environment(cifar_folder, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _, _ = cifar_folder
    monkeypatch.setenv("LAYERSCOPE_CIFAR10", str(folder.parent))
    assert load_input("cifar10:1", input_shape=(3, 32, 32)).indices == [1]


def test_missing_cifar_folder_names_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=rf"not found \(looked in {tmp_path / 'nope'}\).*digits:0 or random"
    ):
        load_input("cifar10:0", data_dir=tmp_path / "nope")


def test_index_out_of_range_and_bad_index(cifar_folder) -> None:
    folder, _, _ = cifar_folder
    with pytest.raises(
        InputError, match=r"cifar10 index 5 is out of range: there are 5 samples \(0-4\)"
    ):
        load_input("cifar10:5", data_dir=folder)
    with pytest.raises(InputError, match="bad digits index 'x'"):
        load_input("digits:x")
    assert parse_indices("1,5,7-9", 10, "t") == [1, 5, 7, 8, 9]


def test_digits_are_fitted_to_a_grey_model() -> None:
    b = load_input("digits:0-1", input_shape=(1, 16, 16))
    assert b.tensor.shape == (2, 1, 16, 16)
    assert b.labels == [0, 1] and "digits mean/std" in b.description
    assert any("resized 32×32 → 16×16" in t for t in b.transforms)


def test_random_is_seeded_and_needs_a_shape() -> None:
    a = load_input("random", input_shape=(3, 4, 4), seed=1)
    b = load_input("random:3x4x4", seed=1, max_samples=2)
    torch.testing.assert_close(a.tensor[0], b.tensor[0])
    assert b.tensor.shape == (2, 3, 4, 4)
    with pytest.raises(InputError, match="does not say its input shape"):
        load_input("random")


def test_image_file_is_resized_and_normalised(tmp_path: Path) -> None:
    path = tmp_path / "cat.png"
    Image.fromarray(np.full((64, 48, 3), 255, dtype=np.uint8)).save(path)
    b = load_input(str(path), input_shape=(3, 32, 32))
    assert b.tensor.shape == (1, 3, 32, 32)
    expected = (1.0 - datasets.CIFAR10_MEAN[0]) / datasets.CIFAR10_STD[0]
    assert float(b.tensor[0, 0, 5, 5]) == pytest.approx(expected, rel=1e-5)
    assert "resized 48×64 → 32×32 (bilinear)" in b.transforms


def test_unreadable_image_and_npy_shape_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read .*junk.png as an image"):
        load_input(str(junk))
    arr = tmp_path / "x.npy"
    np.save(arr, np.zeros((2, 3, 5, 5), np.float32))
    with pytest.raises(InputError, match=r"has shape \(2, 3, 5, 5\); the model takes \(3, 4, 4\)"):
        load_input(str(arr), input_shape=(3, 4, 4))
    assert load_input(str(arr), input_shape=(3, 5, 5)).tensor.shape == (2, 3, 5, 5)
    with pytest.raises(InputError, match="neither a source"):
        load_input(str(tmp_path / "missing.png"))


def test_model_input_shape_from_module_attribute() -> None:
    from layerscope.engine.zoo import ResNet8

    assert model_input_shape(ResNet8()) == (3, 32, 32)
