"""Image inputs: CIFAR-10 and digits by index, and image files, fitted to the model's channels and
size, then normalised."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from layerscope.engine import datasets
from layerscope.engine.errors import InputError
from layerscope.engine.inputs.batch import InputBatch, index_ranges, parse_indices
from layerscope.engine.inputs.normalization import (
    Norm,
    apply_normalization,
    default_norm,
    norm_note,
)

if TYPE_CHECKING:
    import torch

# Images above this many pixels are refused from their header, before decoding (bomb guard).
MAX_IMAGE_PIXELS = 64_000_000


@functools.lru_cache(maxsize=2)
def _cifar_test(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    return datasets.read_cifar10(folder, "test")


def dataset_batch(
    spec: str,
    kind: str,
    arg: str,
    shape: tuple[int, ...] | None,
    data_dir: str | Path | None,
    max_samples: int | None,
    norm_spec: Norm | None | str,
) -> InputBatch:
    if kind == "cifar10":
        folder = datasets.cifar10_folder(data_dir)
        images, labels = _cifar_test(folder.resolve())
        names, title = datasets.CIFAR10_CLASSES, "CIFAR-10 test"
    else:
        images, labels = datasets.digits_images()
        names, title = datasets.DIGITS_CLASSES, "digits"
    idx = parse_indices(arg, len(images), kind)[: max_samples or None]
    picked = images[idx]  # N×32×32×3 uint8
    t, transforms = to_model(picked, shape)
    norm = apply_normalization(t, default_norm(norm_spec, kind))
    lab = [int(labels[i]) for i in idx]
    if len(idx) == 1:
        desc = f"{title}[{idx[0]}] (label={names[lab[0]]})"
    else:
        desc = f"{title}[{index_ranges(idx)}] ({len(idx)} images)"
    return InputBatch(
        t, spec, kind, desc + norm_note(norm), idx, lab, [names[i] for i in lab], norm, transforms
    )


def image_batch(
    spec: str, path: Path, shape: tuple[int, ...] | None, norm_spec: Norm | None | str
) -> InputBatch:
    import warnings

    from PIL import Image, UnidentifiedImageError

    too_big = (
        f"{path.name}: an image of more than {MAX_IMAGE_PIXELS // 1_000_000} MP is refused "
        "before decoding (a few KB of PNG can decode to gigabytes)"
    )
    try:
        with warnings.catch_warnings():  # PIL's bomb warning becomes our refusal, not a stray line
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:  # reads the header only
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise InputError(f"{too_big}; this one is {w}×{h}")
                arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(too_big) from None  # PIL's own cap fired first, in open()
    except (UnidentifiedImageError, OSError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:80]
        raise InputError(f"cannot read {path} as an image or .npy array ({reason})") from None
    t, transforms = to_model(arr[None], shape)
    name = "cifar10" if tuple(t.shape[1:]) == (3, 32, 32) else "none"
    norm = apply_normalization(t, default_norm(norm_spec, name))
    desc = f"image {path.name} {arr.shape[1]}×{arr.shape[0]}" + norm_note(norm)
    return InputBatch(t, spec, "image", desc, normalization=norm, transforms=transforms)


def to_model(images: np.ndarray, shape: tuple[int, ...] | None) -> tuple[torch.Tensor, list[str]]:
    """uint8 ``N×H×W×3`` → float ``N×C×H×W`` in [0, 1], fitted to the model's channels and size."""
    import torch

    t = (
        torch.from_numpy(np.require(images, requirements=["C", "W"]))
        .permute(0, 3, 1, 2)
        .float()
        .div_(255.0)
    )
    steps = ["scaled to [0, 1]"]
    if shape is None or len(shape) != 3:
        return t, steps
    c, h, w = shape
    if c == 1:
        t = (t * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        steps.append("converted to grey (ITU-R 601 luma)")
    elif c != 3:
        raise InputError(f"the model takes {c} channels; image inputs give 1 or 3")
    if tuple(t.shape[2:]) != (h, w):
        old = f"{t.shape[3]}×{t.shape[2]}"
        t = torch.nn.functional.interpolate(
            t, size=(h, w), mode="bilinear", antialias=True, align_corners=False
        )
        steps.append(f"resized {old} → {w}×{h} (bilinear)")
    return t.contiguous(), steps
