"""Raw data readers shared by inputs, demo models and training: digits (embedded) and CIFAR-10.

Digits is scikit-learn's 8×8 handwritten digits (1,797 real images shipped inside the package, so
it works offline); we upscale it to 32×32×3 so the CIFAR-10 architectures run on it unchanged.
CIFAR-10 is read from the standard python folder (``cifar-10-batches-py``), never downloaded.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from layerscope.engine.errors import InputError
from layerscope.engine.paths import quote, require_regular_file

DIGITS_CLASSES = [str(i) for i in range(10)]
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
# Mean/std of the upscaled digits images (pixel values in [0, 1]), per channel.
DIGITS_MEAN = (0.3053, 0.3053, 0.3053)
DIGITS_STD = (0.3759, 0.3759, 0.3759)


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as uint8 ``N×32×32×3`` images (HWC, like CIFAR-10) and int64 labels."""
    images, target = _digits_8x8()
    img = images.astype(np.float32) / 16.0  # 0..16 → 0..1
    img = np.repeat(np.repeat(img, 4, axis=1), 4, axis=2)  # nearest-neighbour 8×8 → 32×32
    img = np.round(img * 255.0).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=3), target.astype(np.int64)


def _digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (8×8 float64 images, labels), read from the CSV it ships.

    ``load_digits`` imports scikit-learn and SciPy first: seconds, for a 1,797-line file. Finding
    the package's folder does not import it; if the file is not where it should be, ask sklearn.
    """
    import gzip
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec else None
    if csv is None or not csv.is_file():
        from sklearn.datasets import load_digits

        d = load_digits()
        return d.images, d.target
    with gzip.open(csv, "rt") as fh:
        data = np.loadtxt(fh, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def digits_split(val_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic train/test index split of the digits data."""
    n = 1797
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return perm[n_val:], perm[:n_val]


def cifar10_folder(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the CIFAR-10 python folder is: the argument, ``$LAYERSCOPE_CIFAR10``, or ./data."""
    candidates: list[Path] = []
    if data_dir is not None:
        candidates.append(Path(data_dir))
    elif os.environ.get("LAYERSCOPE_CIFAR10"):
        candidates.append(Path(os.environ["LAYERSCOPE_CIFAR10"]))
    else:
        candidates += [Path("data"), Path("data/cifar-10-batches-py")]
    for c in candidates:
        for folder in (c, c / "cifar-10-batches-py"):
            if (folder / "test_batch").exists():  # a FIFO or folder there is named, not skipped
                require_regular_file(folder / "test_batch", "a CIFAR-10 batch", InputError)
                return folder
    looked = ", ".join(str(c) for c in candidates)
    raise InputError(
        f"CIFAR-10 python folder not found (looked in {looked}); point --data-dir (CLI) or "
        "LAYERSCOPE_CIFAR10 at cifar-10-batches-py, or use another input such as digits:0 or random"
    )


class _Refused(pickle.UnpicklingError):
    """A global the safe unpickler will not load (its own message, unlike pickle's byte echoes)."""


class _SafeUnpickler(pickle.Unpickler):
    """CIFAR-10 batches hold only dicts, bytes, lists and NumPy arrays: refuse anything else.

    Builtin containers come from pickle opcodes, not ``find_class``; the only globals a batch
    needs are NumPy's array reconstruction, so no other callable (``os.system``...) is reachable.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle's signature
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise _Refused(f"it asks for {quote(f'{module}.{name}')}, which was refused")


def read_cifar10(folder: Path, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 ``N×32×32×3``) and labels from ``test_batch`` or the five ``data_batch_*``."""
    names = ["test_batch"] if split == "test" else [f"data_batch_{i}" for i in range(1, 6)]
    images, labels = [], []
    for name in names:
        path = folder / name
        if not path.exists():
            raise InputError(f"CIFAR-10 file missing: {path}")
        require_regular_file(path, "a CIFAR-10 batch", InputError)  # before open: FIFOs block
        not_batch = f"{path} is not a CIFAR-10 python batch"
        try:
            with path.open("rb") as fh:
                batch = _SafeUnpickler(fh, encoding="bytes").load()
        except _Refused as exc:
            raise InputError(f"{not_batch} ({exc})") from None
        except Exception as exc:  # pickle raises many kinds; its messages may quote file bytes
            raise InputError(f"{not_batch} (unpickling failed: {type(exc).__name__})") from None
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            raise InputError(f"{not_batch} (expected a dict with b'data' and b'labels')")
        try:
            data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            lab = np.asarray(batch[b"labels"], dtype=np.int64).reshape(-1)
        except (ValueError, TypeError, OverflowError):
            raise InputError(f"{not_batch} (data is not N×3072 bytes with N labels)") from None
        if len(lab) != len(data):
            raise InputError(f"{not_batch} ({len(data)} images but {len(lab)} labels)")
        images.append(data.transpose(0, 2, 3, 1))
        labels.append(lab)
    return np.concatenate(images), np.concatenate(labels)
