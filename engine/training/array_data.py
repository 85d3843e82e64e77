"""Data for any task: named arrays (``.npz`` / ``.npy``) and a user's ``module:function``.

``ArrayDataModule`` reads inputs and targets by name, splits them (a given validation pair or a
seeded fraction) and serves float tensors; ``load_module_data`` calls a user's function and
accepts a ``LightningDataModule``, a ``(train, val)`` pair of datasets or ``{"train", "val"}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from layerscope.engine.errors import InputError
from layerscope.engine.training.config import DataConfig


class TensorPairDataset(Dataset):
    """Inputs and targets as tensors; ``targets`` is public (the statistics callbacks read it)."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.inputs = inputs
        self.targets = targets

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[i], self.targets[i]


def _read_arrays(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The named arrays from an ``.npz`` file or a folder of ``NAME.npy`` files (no pickles)."""
    out: dict[str, np.ndarray] = {}
    if path.is_dir():
        available = sorted(p.stem for p in path.glob("*.npy"))
        for name in names:
            f = path / (name if name.endswith(".npy") else f"{name}.npy")
            if not f.is_file():
                raise InputError(
                    f"no array {name!r} in {path}; there: {', '.join(available) or 'no .npy files'}"
                )
            out[name] = _load(f)
        return out
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not hasattr(npz, "files"):
                raise InputError(f"{path} is a single array; give an .npz or a folder of .npy")
            for name in names:
                if name not in npz.files:
                    raise InputError(
                        f"no array {name!r} in {path.name}; there: {', '.join(npz.files)}"
                    )
                out[name] = np.asarray(npz[name])
    except InputError:
        raise
    except (OSError, ValueError, EOFError) as exc:  # not an npz, damaged, or object arrays
        raise InputError(f"cannot read arrays from {path}: {type(exc).__name__}") from None
    return out


def _load(f: Path) -> np.ndarray:
    try:
        return np.load(f, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read array {f}: {type(exc).__name__}") from None


def _tensor(a: np.ndarray, name: str, classification_targets: bool) -> torch.Tensor:
    if a.dtype.kind not in "biuf":
        raise InputError(f"array {name!r} holds {a.dtype}, not numbers")
    if classification_targets:
        if a.dtype.kind == "f" and not np.all(np.mod(a, 1) == 0):
            raise InputError(f"array {name!r} holds class labels but has fractions")
        return torch.as_tensor(a.astype(np.int64))
    return torch.as_tensor(np.ascontiguousarray(a, dtype=np.float32))


class ArrayDataModule(pl.LightningDataModule):
    """Inputs and targets by name from ``data.path`` (:class:`DataConfig` ``kind: arrays``).

    Attributes set by ``setup``: ``train_set``, ``val_set``, ``class_names`` (classification:
    ``0..N-1``; regression: empty).
    """

    def __init__(self, cfg: DataConfig, task: str = "regression", seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.task = task
        self.seed = seed
        self.class_names: list[str] = []
        self.train_set: TensorPairDataset | None = None
        self.val_set: TensorPairDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        cfg = self.cfg
        names = [n for n in (cfg.inputs, cfg.targets, cfg.val_inputs, cfg.val_targets) if n]
        arrays = _read_arrays(Path(cfg.path or "").expanduser(), names)
        cls = self.task == "classification"
        x = _tensor(arrays[cfg.inputs or ""], cfg.inputs or "", False)
        y = _tensor(arrays[cfg.targets or ""], cfg.targets or "", cls)
        if len(x) != len(y):
            raise InputError(
                f"{cfg.inputs!r} has {len(x)} samples but {cfg.targets!r} has {len(y)}"
            )
        if cfg.val_inputs and cfg.val_targets:
            vx = _tensor(arrays[cfg.val_inputs], cfg.val_inputs, False)
            vy = _tensor(arrays[cfg.val_targets], cfg.val_targets, cls)
            if len(vx) != len(vy) or not len(vx):
                raise InputError(f"{cfg.val_inputs!r} and {cfg.val_targets!r} differ in length")
            tx, ty = x, y
        else:
            if len(x) < 2:
                raise InputError(f"{cfg.inputs!r} needs at least 2 samples to split")
            perm = torch.from_numpy(np.random.default_rng(self.seed).permutation(len(x)))
            n_val = min(len(x) - 1, max(1, int(round(len(x) * cfg.val_split))))
            tx, ty = x[perm[n_val:]], y[perm[n_val:]]
            vx, vy = x[perm[:n_val]], y[perm[:n_val]]
        if cfg.max_samples is not None:
            tx, ty = tx[: cfg.max_samples], ty[: cfg.max_samples]
        if cls:
            self.class_names = [str(i) for i in range(int(max(ty.max(), vy.max())) + 1)]
        self.train_set = TensorPairDataset(tx, ty)
        self.val_set = TensorPairDataset(vx, vy)

    def preprocessing(self) -> dict[str, Any]:
        """The inputs as the model saw them: arrays as stored, no normalisation."""
        shape = list(self.train_set.inputs.shape[1:]) if self.train_set is not None else None
        return {
            "task": self.task,
            "data": "arrays",
            "inputs": self.cfg.inputs,
            "targets": self.cfg.targets,
            "input_shape": shape,
            "normalisation": "none (arrays as stored)",
            "class_names": list(self.class_names),
        }

    def _loader(self, ds: Dataset | None, shuffle: bool) -> DataLoader:
        assert ds is not None, "call setup() first"
        return DataLoader(
            ds,
            batch_size=self.cfg.batch_size,
            shuffle=shuffle,
            num_workers=self.cfg.num_workers,
            persistent_workers=self.cfg.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False)


class DatasetsDataModule(ArrayDataModule):
    """A ``(train, val)`` pair of datasets from a user's function, batched by the recipe."""

    def __init__(self, cfg: DataConfig, train: Dataset, val: Dataset, task: str) -> None:
        super().__init__(cfg, task=task)
        self.train_set, self.val_set = train, val  # type: ignore[assignment]

    def setup(self, stage: str | None = None) -> None:
        return None

    def preprocessing(self) -> dict[str, Any]:
        return {"task": self.task, "data": "module", "source": self.cfg.source}


def load_module_data(cfg: DataConfig, task: str) -> pl.LightningDataModule:
    """Call ``data.source`` with ``data.kwargs``; a datamodule is used as is, datasets are batched."""
    from layerscope.engine import zoo
    from layerscope.engine.errors import first_line

    fn = zoo.resolve_arch(cfg.source or "")
    try:
        result = fn(**cfg.kwargs)
    except Exception as exc:  # the user's function: one line naming it
        raise InputError(
            f"data.source {cfg.source} raised {type(exc).__name__}: {first_line(exc, 300)}"
        ) from None
    if isinstance(result, pl.LightningDataModule):
        return result
    if isinstance(result, dict) and {"train", "val"} <= set(result):
        result = (result["train"], result["val"])
    if isinstance(result, list | tuple) and len(result) == 2:
        train, val = result
        for name, ds in (("train", train), ("val", val)):
            if not hasattr(ds, "__getitem__") or not hasattr(ds, "__len__"):
                raise InputError(f"data.source {cfg.source}: the {name} dataset has no len/getitem")
        return DatasetsDataModule(cfg, train, val, task)
    raise InputError(
        f"data.source {cfg.source} returned {type(result).__name__}; return a "
        "LightningDataModule, (train, val) datasets or {'train': ..., 'val': ...}"
    )
