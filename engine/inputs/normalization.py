"""Per-channel normalisation of image inputs: by name or ``MEAN/STD``, as a training run recorded
it, or the source's own; and the words that describe what was done."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from layerscope.engine import datasets
from layerscope.engine.errors import InputError

if TYPE_CHECKING:
    import torch

NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]] | None] = {
    "cifar10": (datasets.CIFAR10_MEAN, datasets.CIFAR10_STD),
    "digits": (datasets.DIGITS_MEAN, datasets.DIGITS_STD),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "none": None,
}


# A normalisation: (name for people, mean per channel, std per channel).
Norm = tuple[str, tuple[float, ...], tuple[float, ...]]


def parse_normalization(text: str) -> Norm | None:
    """``imagenet`` / ``cifar10`` / ``digits`` / ``none`` or ``MEAN/STD`` per channel
    (``0.485,0.456,0.406/0.229,0.224,0.225``) → (name, mean, std); ``None`` for ``none``."""
    text = text.strip()
    if text.lower() in NORMALIZATIONS:
        ms = NORMALIZATIONS[text.lower()]
        return None if ms is None else (text.lower(), ms[0], ms[1])
    bad = (
        f"bad normalisation {text[:60]!r}: use {', '.join(NORMALIZATIONS)}, or MEAN/STD per "
        "channel like 0.485,0.456,0.406/0.229,0.224,0.225"
    )
    mean_s, sep, std_s = text.partition("/")
    if not sep:
        raise InputError(bad)
    try:
        mean = tuple(float(v) for v in mean_s.split(","))
        std = tuple(float(v) for v in std_s.split(","))
    except ValueError:
        raise InputError(bad) from None
    if len(mean) != len(std):
        raise InputError(f"{bad} (here {len(mean)} means and {len(std)} stds)")
    if not all(np.isfinite(mean)) or not all(np.isfinite(std) & (np.asarray(std) > 0)):
        raise InputError(f"{bad} (every std must be a positive number)")
    return (f"mean {mean_s.strip()} / std {std_s.strip()}", mean, std)


def recorded_preprocessing(model: Any) -> Norm | None:
    """The normalisation a layerscope training run recorded for ``model``: the ONNX file's
    ``layerscope.preprocessing`` metadata, else ``model_info.json`` beside the model or in the
    run folder above its ``checkpoints/``. ``None`` when nothing usable was recorded."""
    import json

    proto = getattr(model, "onnx", None)
    if proto is not None:
        for prop in proto.metadata_props:
            if prop.key == "layerscope.preprocessing":
                try:
                    got = _norm_of(json.loads(prop.value), "the ONNX file's metadata")
                except ValueError:
                    got = None
                if got:
                    return got
    path = getattr(model, "path", None)
    if not isinstance(path, Path):
        return None
    for folder in (path if path.is_dir() else path.parent, path.parent.parent):
        info = folder / "model_info.json"
        try:
            if info.is_file() and info.stat().st_size < 1_000_000:
                got = _norm_of(json.loads(info.read_text()).get("preprocessing"), info.name)
                if got:
                    return got
        except (OSError, ValueError, AttributeError):
            continue  # an unreadable record is no record
    return None


def _norm_of(record: Any, where: str) -> Norm | None:
    if not isinstance(record, dict):
        return None
    mean, std = record.get("mean"), record.get("std")
    try:
        m = tuple(float(v) for v in mean)  # type: ignore[union-attr]
        s = tuple(float(v) for v in std)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    if not m or len(m) != len(s) or not all(v > 0 for v in s):
        return None
    return (f"recorded in {where}", m, s)


def default_norm(spec: Norm | None | str, fallback: str) -> Norm | None:
    """The normalisation asked for (or recorded), else the source's own (``fallback`` name)."""
    if spec != "default":
        return spec  # type: ignore[return-value]
    return parse_normalization(fallback)


def apply_normalization(t: torch.Tensor, norm: Norm | None) -> dict[str, Any] | None:
    import torch

    if norm is None:
        return None
    name, mean, std = norm
    c = t.shape[1]
    if len(mean) not in (1, c) and not (c == 1 and len(mean) == 3):
        raise InputError(
            f"the normalisation ({name}) has {len(mean)} values per channel; the input has {c} "
            "channels"
        )
    if len(mean) == 1:
        mean, std = mean * c, std * c
    mean_v, std_v = [float(v) for v in mean[:c]], [float(v) for v in std[:c]]
    if c == 1:  # grey input: the channels' average
        mean_v, std_v = [float(np.mean(mean))], [float(np.mean(std))]
    t.sub_(torch.tensor(mean_v).view(1, -1, 1, 1)).div_(torch.tensor(std_v).view(1, -1, 1, 1))
    return {"name": name, "mean": mean_v, "std": std_v, "layout": "NCHW"}


def norm_note(norm: dict[str, Any] | None) -> str:
    if norm is None:
        return ", pixels in [0, 1], no normalisation"
    if norm["name"].startswith("recorded"):
        return f", normalised with the mean/std {norm['name']}"
    if norm["name"].startswith("mean "):
        return f", normalised with {norm['name']}"
    return f", normalised with {norm['name']} mean/std"
