"""Input sources → a batch ready for the model, with a description of exactly what was fed.

Spec strings (the CLI's ``--input``, the app's input selector):

* ``random`` / ``random:3x32x32`` — seeded standard normal values (already in normalised space).
* ``cifar10:17``, ``cifar10:0-63``, ``cifar10:1,5,9`` — CIFAR-10 *test* images by index, from the
  python folder (``--data-dir``, ``$LAYERSCOPE_CIFAR10`` or ./data).
* ``digits:3``, ``digits:0-99`` — the embedded digits images the demo models were trained on.
* ``path.png`` / ``.jpg`` — an image, converted to the model's channels and resized to its size.
* ``path.npy`` — an array used as given (a batch axis is added when it lacks one).

Images are scaled to [0, 1] and normalised per channel: CIFAR-10 mean/std for CIFAR-10 and (by
default) for any 3×32×32 model, digits mean/std for digits. What was done is in the description.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import datasets
from engine.errors import InputError
from engine.onnx_graph import GraphIndex
from engine.paths import require_regular_file

if TYPE_CHECKING:
    import torch

    from engine.model import Model

NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]] | None] = {
    "cifar10": (datasets.CIFAR10_MEAN, datasets.CIFAR10_STD),
    "digits": (datasets.DIGITS_MEAN, datasets.DIGITS_STD),
    "none": None,
}
SOURCES = ("random", "cifar10", "digits", "image", "npy")
# Images above this many pixels are refused from their header, before decoding (bomb guard).
MAX_IMAGE_PIXELS = 64_000_000


@dataclass(eq=False)
class InputBatch:
    """A batch (``N×C×H×W`` float32 for images) and what it is.

    Attributes:
        description: one line for people, e.g. ``CIFAR-10 test[17] (label=cat)``.
        normalization: ``{"mean", "std", "name"}`` applied after scaling to [0, 1], or ``None``.
        transforms: the other steps taken, in order (``"resized 64×64 → 32×32"``...).
    """

    tensor: torch.Tensor
    spec: str
    source: str
    description: str
    indices: list[int] | None = None
    labels: list[int] | None = None
    label_names: list[str] | None = None
    normalization: dict[str, Any] | None = None
    transforms: list[str] = field(default_factory=list)
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Everything but the values: what a report records about its input."""
        return {
            "spec": self.spec,
            "source": self.source,
            "description": self.description,
            "shape": list(self.tensor.shape),
            "dtype": str(self.tensor.dtype).removeprefix("torch."),
            "indices": self.indices,
            "labels": self.labels,
            "label_names": self.label_names,
            "normalization": self.normalization,
            "transforms": self.transforms,
            "seed": self.seed,
        }


def model_input_shape(model: Model | Any) -> tuple[int, ...] | None:
    """The model's per-sample input shape (``(3, 32, 32)``), when the model says it."""
    meta = getattr(model, "metadata", None) or {}
    shape = meta.get("input_shape")
    module = getattr(model, "module", model)
    if shape is None:
        shape = getattr(module, "input_shape", None)
    onnx_proto = getattr(model, "onnx", None)
    if shape is None and onnx_proto is not None:
        shape = _onnx_input_shape(onnx_proto)
    return tuple(int(d) for d in shape) if shape else None


def _onnx_input_shape(proto: Any) -> tuple[int, ...] | None:
    for inp in GraphIndex(proto).data_inputs:
        dims = inp.type.tensor_type.shape.dim
        per_sample = [d.dim_value if d.HasField("dim_value") else 0 for d in dims[1:]]
        return tuple(per_sample) if per_sample and all(per_sample) else None
    return None


def parse_indices(text: str, limit: int, what: str) -> list[int]:
    """``"17"``, ``"0-63"``, ``"1,5,9-11"`` → indices, each checked against ``limit``."""
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise InputError(
                f"bad {what} index {part!r}: use a number, a range like 0-63, or a list 1,5,9"
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if hi < lo:
            raise InputError(f"bad {what} range {part!r}: the end comes before the start")
        if hi >= limit:
            raise InputError(
                f"{what} index {hi} is out of range: there are {limit} samples (0-{limit - 1})"
            )
        out.extend(range(lo, hi + 1))
    return out or [0]


def load_input(
    spec: str,
    *,
    input_shape: tuple[int, ...] | None = None,
    data_dir: str | Path | None = None,
    max_samples: int | None = None,
    seed: int = 0,
    normalize: str | None = None,
) -> InputBatch:
    """Turn an input spec into a batch.

    Args:
        spec: see the module docstring.
        input_shape: the model's per-sample shape (``model_input_shape``); images are fitted to it.
        data_dir: the CIFAR-10 python folder (or its parent).
        max_samples: keep at most this many samples (also: how many ``random`` draws).
        seed: seed for ``random``.
        normalize: ``"cifar10"``, ``"digits"`` or ``"none"``; default: per source (module docstring).
    """
    if max_samples is not None and max_samples < 1:
        raise InputError(f"--max-samples must be at least 1, got {max_samples}")
    if normalize is not None and normalize not in NORMALIZATIONS:
        raise InputError(
            f"unknown normalisation {normalize!r}: use one of {', '.join(NORMALIZATIONS)}"
        )
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    if kind == "random":
        return _random(spec, arg, input_shape, max_samples or 1, seed)
    if kind in ("cifar10", "digits"):
        return _dataset(spec, kind, arg, input_shape, data_dir, max_samples, normalize)
    path = Path(spec).expanduser()
    if not path.exists():
        raise InputError(
            f"input {spec!r} is neither a source (random, cifar10:N, digits:N) nor an existing file"
        )
    if path.is_dir():
        raise InputError(f"input {spec} is a folder: give an image or .npy file")
    require_regular_file(path, "an input", InputError)  # before open: a FIFO blocks it forever
    try:
        with path.open("rb") as fh:
            is_npy = fh.read(6) == b"\x93NUMPY"
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if is_npy:
        return _npy(spec, path, input_shape, max_samples)
    return _image(spec, path, input_shape, normalize)


def _random(spec: str, arg: str, shape: tuple[int, ...] | None, n: int, seed: int) -> InputBatch:
    import torch

    if arg:
        try:
            shape = tuple(int(d) for d in arg.lower().split("x"))
        except ValueError:
            raise InputError(f"bad random shape {arg!r}: use e.g. random:3x32x32") from None
        if not shape or min(shape) < 1:
            raise InputError(f"bad random shape {arg!r}: every dimension must be at least 1")
    if shape is None:
        raise InputError("the model does not say its input shape: give one, e.g. random:3x32x32")
    gen = torch.Generator().manual_seed(seed)
    t = torch.randn((n, *shape), generator=gen)
    dims = "×".join(str(d) for d in t.shape)
    desc = f"random normal N(0, 1), seed {seed}, shape {dims} (no normalisation)"
    return InputBatch(t, spec, "random", desc, seed=seed)


@functools.lru_cache(maxsize=2)
def _cifar_test(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    return datasets.read_cifar10(folder, "test")


def _dataset(
    spec: str,
    kind: str,
    arg: str,
    shape: tuple[int, ...] | None,
    data_dir: str | Path | None,
    max_samples: int | None,
    normalize: str | None,
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
    norm_name = normalize or kind
    t, transforms = _to_model(picked, shape)
    norm = _normalize(t, norm_name)
    lab = [int(labels[i]) for i in idx]
    if len(idx) == 1:
        desc = f"{title}[{idx[0]}] (label={names[lab[0]]})"
    else:
        desc = f"{title}[{_ranges(idx)}] ({len(idx)} images)"
    return InputBatch(
        t, spec, kind, desc + _norm_note(norm), idx, lab, [names[i] for i in lab], norm, transforms
    )


def _image(
    spec: str, path: Path, shape: tuple[int, ...] | None, normalize: str | None
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
    t, transforms = _to_model(arr[None], shape)
    name = normalize or ("cifar10" if tuple(t.shape[1:]) == (3, 32, 32) else "none")
    norm = _normalize(t, name)
    desc = f"image {path.name} {arr.shape[1]}×{arr.shape[0]}" + _norm_note(norm)
    return InputBatch(t, spec, "image", desc, normalization=norm, transforms=transforms)


def _npy(
    spec: str, path: Path, shape: tuple[int, ...] | None, max_samples: int | None
) -> InputBatch:
    import torch

    _check_npy_header(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, MemoryError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:80]
        raise InputError(f"cannot read {path} as a .npy array ({reason})") from None
    if arr.dtype.kind not in "fiub":
        raise InputError(f"{path.name} holds {arr.dtype} values; capture needs numbers")
    transforms = []
    if shape is not None and tuple(arr.shape) == tuple(shape):
        arr = arr[None]
        transforms.append("added a batch axis")
    elif shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise InputError(
            f"{path.name} has shape {tuple(arr.shape)}; the model takes {tuple(shape)} per sample "
            f"(or N×{'×'.join(map(str, shape))})"
        )
    arr = arr[: max_samples or None]
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    dims = "×".join(str(d) for d in t.shape)
    desc = f"array {path.name} {dims} (used as given, no normalisation)"
    return InputBatch(t, spec, "npy", desc, transforms=transforms)


def _check_npy_header(path: Path) -> None:
    """Refuse a .npy whose header claims more data than the file holds, from the header alone
    (``np.load`` would allocate the claimed size first: 11 TiB from a 128-byte file)."""
    import math

    from numpy.lib import format as npy_format

    bad = f"{path.name} is not a valid .npy file (unreadable header)"
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            version = npy_format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(fh)
            else:  # 3.0 only differs for structured dtypes with non-Latin-1 field names
                raise InputError(f"{path.name}: .npy format version {version} is not supported")
            data_bytes = size - fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError, TypeError):
        raise InputError(bad) from None  # numpy's messages quote the header's text
    if dtype.hasobject:
        raise InputError(f"{path.name} holds Python objects; capture needs numbers")
    if any(d < 0 for d in shape):
        raise InputError(bad)
    claimed = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if claimed > data_bytes:
        raise InputError(
            f"{path.name}: its header claims {claimed:,} bytes of data but the file holds "
            f"{data_bytes:,}; refused before reading"
        )


def _to_model(images: np.ndarray, shape: tuple[int, ...] | None) -> tuple[torch.Tensor, list[str]]:
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


def _normalize(t: torch.Tensor, name: str) -> dict[str, Any] | None:
    import torch

    ms = NORMALIZATIONS[name]
    if ms is None:
        return None
    mean, std = ms
    c = t.shape[1]
    mean_v, std_v = list(mean[:c]), list(std[:c])
    if c == 1:  # grey input: the channels' average
        mean_v, std_v = [float(np.mean(mean))], [float(np.mean(std))]
    t.sub_(torch.tensor(mean_v).view(1, -1, 1, 1)).div_(torch.tensor(std_v).view(1, -1, 1, 1))
    return {"name": name, "mean": mean_v, "std": std_v, "layout": "NCHW"}


def _norm_note(norm: dict[str, Any] | None) -> str:
    if norm is None:
        return ", pixels in [0, 1], no normalisation"
    return f", normalised with {norm['name']} mean/std"


def _ranges(idx: list[int]) -> str:
    """``[0, 1, 2, 5]`` → ``0-2,5``."""
    parts: list[str] = []
    start = prev = idx[0]
    for i in [*idx[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(parts)
