"""The LightningDataModule for digits, CIFAR-10 and image folders, and a sampler that remembers.

Images are kept as uint8 ``N×H×W×3`` arrays (CIFAR-10's training set is 150 MB that way, four
times more as float) and normalised per item.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from loguru import logger
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from layerscope.engine.errors import InputError
from layerscope.engine.training.config import DataConfig

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TrackingWeightedRandomSampler(WeightedRandomSampler):
    """A ``WeightedRandomSampler`` that keeps the indices it drew in its latest pass (``_last_indices``)."""

    def __init__(self, weights: Sequence[float] | torch.Tensor, num_samples: int, **kwargs) -> None:
        super().__init__(weights, num_samples, **kwargs)
        self._last_indices: list[int] = []

    def __iter__(self) -> Iterator[int]:
        drawn = torch.multinomial(
            self.weights, self.num_samples, self.replacement, generator=self.generator
        ).tolist()
        self._last_indices = drawn
        return iter(drawn)


class ImageArrayDataset(Dataset):
    """uint8 HWC images + labels → normalised float CHW tensors."""

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.targets = torch.as_tensor(labels, dtype=torch.long)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].permute(2, 0, 1).float().div_(255.0)
        return (x - self.mean) / self.std, self.targets[i]


def read_image_folder(
    root: Path, size: int, skipped: list[Path] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images from ``root/<class>/*.png|jpg``, resized to ``size``², with labels and class names.

    An image that cannot be decoded is skipped with a warning and appended to ``skipped``: one
    corrupt file in thousands must not fail a run.
    """
    from PIL import Image, UnidentifiedImageError

    if not root.is_dir():
        raise InputError(f"image folder not found: {root}")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise InputError(
            f"{root} needs one sub-folder per class (at least two); found {len(classes)}"
        )
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        for f in sorted((root / name).iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(f) as im:
                    im = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
                    images.append(np.asarray(im, dtype=np.uint8))
            except (UnidentifiedImageError, OSError, ValueError):
                # No exception text: PIL may quote the file's bytes.
                logger.warning("skipped an image that cannot be decoded: {}", f)
                if skipped is not None:
                    skipped.append(f)
                continue
            labels.append(label)
    if not images:
        what = f" ({len(skipped)} could not be decoded)" if skipped else ""
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}{what}")
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes


def _split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * val_fraction)))
    return perm[n_val:], perm[:n_val]


class ImageDataModule(pl.LightningDataModule):
    """Train/validation data for one of the three kinds in :class:`DataConfig`.

    Attributes set by ``setup``: ``train_set``, ``val_set``, ``class_names``, ``mean``, ``std``.
    """

    def __init__(self, cfg: DataConfig | None = None, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg or DataConfig()
        self.seed = seed
        self.class_names: list[str] = []
        self.mean: tuple[float, ...] = IMAGENET_MEAN
        self.std: tuple[float, ...] = IMAGENET_STD
        self.train_set: ImageArrayDataset | None = None
        self.val_set: ImageArrayDataset | None = None
        self.sampler: TrackingWeightedRandomSampler | None = None
        self.skipped_images: list[Path] = []  # folder images that could not be decoded

    def _load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        from layerscope.engine import datasets

        cfg = self.cfg
        if cfg.kind == "digits":
            images, labels = datasets.digits_images()
            train_idx, val_idx = datasets.digits_split(cfg.val_split, seed=self.seed)
            self.class_names = list(datasets.DIGITS_CLASSES)
            self.mean, self.std = datasets.DIGITS_MEAN, datasets.DIGITS_STD
            return images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]
        if cfg.kind == "cifar10":
            folder = datasets.cifar10_folder(cfg.path)
            tx, ty = datasets.read_cifar10(folder, "train")
            vx, vy = datasets.read_cifar10(folder, "test")
            self.class_names = list(datasets.CIFAR10_CLASSES)
            self.mean, self.std = datasets.CIFAR10_MEAN, datasets.CIFAR10_STD
            return tx, ty, vx, vy
        self.skipped_images = []
        images, labels, self.class_names = read_image_folder(
            Path(cfg.path or ""), cfg.image_size, self.skipped_images
        )
        if self.skipped_images:
            logger.warning(
                "{} image(s) under {} could not be decoded and were skipped",
                len(self.skipped_images),
                cfg.path,
            )
        train_idx, val_idx = _split(len(labels), cfg.val_split, self.seed)
        return images[train_idx], labels[train_idx], images[val_idx], labels[val_idx]

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        tx, ty, vx, vy = self._load()
        if self.cfg.max_samples is not None:
            tx, ty = tx[: self.cfg.max_samples], ty[: self.cfg.max_samples]
        self.train_set = ImageArrayDataset(tx, ty, self.mean, self.std)
        self.val_set = ImageArrayDataset(vx, vy, self.mean, self.std)
        if self.cfg.weighted_sampler:
            counts = np.bincount(ty, minlength=len(self.class_names)).astype(np.float64)
            weights = 1.0 / np.maximum(counts, 1.0)  # balance classes
            gen = torch.Generator().manual_seed(self.seed)
            self.sampler = TrackingWeightedRandomSampler(
                torch.as_tensor(weights[ty], dtype=torch.double), len(ty), generator=gen
            )

    def preprocessing(self) -> dict[str, object]:
        """What a model trained on this data expects of its input (for model_info and ONNX)."""
        size = self.train_set.images.shape[1:3] if self.train_set is not None else None
        return {
            "task": "classification",
            "data": self.cfg.kind,
            "layout": "NCHW",
            "channel_order": "RGB",
            "scale": "1/255",  # uint8 pixels to [0, 1] before normalising
            "mean": [float(m) for m in self.mean],
            "std": [float(s) for s in self.std],
            "image_size": [int(v) for v in size] if size is not None else None,
            "class_names": list(self.class_names),
            "skipped_images": len(self.skipped_images),
        }

    def class_counts(self) -> list[int]:
        """Training images per class, in class-index order."""
        self.setup()
        assert self.train_set is not None
        return np.bincount(self.train_set.targets.numpy(), minlength=len(self.class_names)).tolist()

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "call setup() first"
        return DataLoader(
            self.train_set,
            batch_size=self.cfg.batch_size,
            shuffle=self.sampler is None,
            sampler=self.sampler,
            num_workers=self.cfg.num_workers,
            persistent_workers=self.cfg.num_workers > 0,
            drop_last=False,
        )

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None, "call setup() first"
        return DataLoader(
            self.val_set,
            batch_size=self.cfg.batch_size,
            shuffle=False,
            num_workers=self.cfg.num_workers,
            persistent_workers=self.cfg.num_workers > 0,
        )
