"""Input sources → a batch ready for the model, with a description of exactly what was fed.

Spec strings (the CLI's ``--input``, the app's input selector):

* ``random`` / ``random:3x32x32`` — seeded standard normal values (already in normalised space).
* ``cifar10:17``, ``cifar10:0-63``, ``cifar10:1,5,9`` — CIFAR-10 *test* images by index, from the
  python folder (``--data-dir``, ``$LAYERSCOPE_CIFAR10`` or ./data).
* ``digits:3``, ``digits:0-99`` — the embedded digits images the demo models were trained on.
* ``path.png`` / ``.jpg`` — an image, converted to the model's channels and resized to its size.
* ``path.npy`` — an array used as given (a batch axis is added when it lacks one); ``x.npy[0:8]``
  takes samples 0-7.
* ``path.npz`` — the archive's one array, ``train.npz:diffraction`` the array named so,
  ``train.npz:diffraction[0:8]`` its samples 0-7. An archive of several arrays whose names are the
  model's inputs feeds each input its array.
* ``ids:101,2023,102`` — one sequence of token ids (int64, ``1×3``); ``ids:1,2,3/4,5,6`` two.
* ``name=SPEC; name=SPEC`` — several named inputs, each any of the above (the CLI's repeated
  ``--input name=SPEC``), given to a torch forward as keywords or to an ONNX graph by input name.

Integer arrays stay integers (token ids), except an image-shaped one for an image model. For an
ONNX model, ``random`` fills every input, a dynamic dimension (sequence length) with
``DEFAULT_DYNAMIC_DIM`` and integer inputs with ones; the description says so.

Images are scaled to [0, 1] and normalised per channel: by ``normalize`` when given (a name or
``MEAN/STD`` per channel, ``parse_normalization``), else by what the model's training run recorded
(``recorded_preprocessing``: the ONNX file's ``layerscope.preprocessing`` metadata or a
``model_info.json`` beside the model), else CIFAR-10 mean/std for CIFAR-10 and any 3×32×32 model,
digits mean/std for digits. What was done is in the description.

Long because every input form (random, datasets, images, .npy/.npz, token ids, several named
inputs, normalisation) parses and describes itself here; a split into one module per source is
the next step if another form is added.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from layerscope.engine import datasets
from layerscope.engine.errors import InputError
from layerscope.engine.onnx_graph import GraphIndex
from layerscope.engine.paths import require_regular_file

if TYPE_CHECKING:
    import torch

    from layerscope.engine.model import Model

NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]] | None] = {
    "cifar10": (datasets.CIFAR10_MEAN, datasets.CIFAR10_STD),
    "digits": (datasets.DIGITS_MEAN, datasets.DIGITS_STD),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "none": None,
}
SOURCES = ("random", "cifar10", "digits", "image", "npy", "npz", "ids", "named")
# A dynamic ONNX dimension past the batch axis (a sequence length) when the user gives no shape.
DEFAULT_DYNAMIC_DIM = 16
# A normalisation: (name for people, mean per channel, std per channel).
Norm = tuple[str, tuple[float, ...], tuple[float, ...]]
_NAMED = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=(.*)", re.S)
_ARRAY_FILE = re.compile(
    r"(?P<path>.+?\.(?:npz|npy))(?::(?P<array>[^\[\]]+))?(?:\[(?P<range>[^\]]*)\])?", re.I
)
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
    # Several inputs: name → batch, in the model's order (``tensor`` is the first of them).
    named: dict[str, torch.Tensor] | None = None

    def feed(self) -> torch.Tensor | dict[str, torch.Tensor]:
        """What the model is called with: the tensor, or the named tensors as keywords."""
        return self.named if self.named is not None else self.tensor

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
            "inputs": None
            if self.named is None
            else {
                k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")}
                for k, v in self.named.items()
            },
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
    model: Any = None,
) -> InputBatch:
    """Turn an input spec into a batch.

    Args:
        spec: see the module docstring.
        input_shape: the model's per-sample shape (``model_input_shape``); images are fitted to it.
        data_dir: the CIFAR-10 python folder (or its parent).
        max_samples: keep at most this many samples (also: how many ``random`` draws).
        seed: seed for ``random``.
        normalize: a name (``cifar10``, ``digits``, ``imagenet``, ``none``) or ``MEAN/STD`` per
            channel (``0.485,0.456,0.406/0.229,0.224,0.225``); default: what the model's training
            recorded, else per source (module docstring).
        model: the model (a ``Model`` or a torch module) the batch is for: its input shape, input
            names (several inputs) and recorded normalisation are used.
    """
    if max_samples is not None and max_samples < 1:
        raise InputError(f"--max-samples must be at least 1, got {max_samples}")
    norm: Norm | None | str = "default"
    if normalize is not None:
        norm = parse_normalization(normalize)
    elif model is not None:
        norm = recorded_preprocessing(model) or "default"
    if input_shape is None and model is not None:
        input_shape = model_input_shape(model)
    spec = spec.strip()
    opts = {"data_dir": data_dir, "max_samples": max_samples, "seed": seed, "norm": norm}
    parts = [p for p in spec.split(";") if p.strip()] if ";" in spec else [spec]
    if all(_NAMED.fullmatch(p) for p in parts) and not Path(spec).expanduser().exists():
        pairs = [_NAMED.fullmatch(p).groups() for p in parts]  # type: ignore[union-attr]
        return _named(spec, [(n, s.strip()) for n, s in pairs], model, opts)
    if model is not None and spec.partition(":")[0] == "random":
        infos = onnx_input_infos(model)
        if len(infos) > 1 or (infos and not all(infos[0][1])):  # several inputs or dynamic dims
            return _named(spec, [(name, spec) for name, _, _ in infos], model, opts)
    batch = _one(spec, input_shape, **opts)
    if isinstance(batch, dict):  # an .npz of several arrays: named inputs when they are
        known = model_input_names(model)
        if not known or not set(batch) <= set(known):
            names = ", ".join(_q(n) for n in list(batch)[:10])
            first = next(iter(batch))
            raise InputError(
                f"{spec} holds several arrays ({names}): name one ({spec}:{first}), or name "
                "them after the model's inputs" + (f" ({', '.join(known)})" if known else "")
            )
        return _combine(spec, batch, model)
    return batch


def _one(
    spec: str,
    input_shape: tuple[int, ...] | None,
    *,
    data_dir: str | Path | None,
    max_samples: int | None,
    seed: int,
    norm: Norm | None | str,
    integer: bool = False,
) -> InputBatch | dict[str, InputBatch]:
    """One input (or, for an .npz of several arrays, one per array)."""
    kind, _, arg = spec.partition(":")
    if kind == "random":
        return _random(spec, arg, input_shape, max_samples or 1, seed, integer)
    if kind in ("cifar10", "digits"):
        return _dataset(spec, kind, arg, input_shape, data_dir, max_samples, norm)
    if kind == "ids":
        return _ids(spec, arg, max_samples)
    path = Path(spec).expanduser()
    array, rng = None, None
    m = _ARRAY_FILE.fullmatch(spec)
    if not path.exists() and m and (m.group("array") or m.group("range") is not None):
        path, array, rng = Path(m.group("path")).expanduser(), m.group("array"), m.group("range")
    if not path.exists():
        raise InputError(
            f"input {spec!r} is neither a source (random, cifar10:N, digits:N, ids:1,2,3, "
            "name=SPEC) nor an existing file"
        )
    if path.is_dir():
        raise InputError(f"input {spec} is a folder: give an image, .npy or .npz file")
    require_regular_file(path, "an input", InputError)  # before open: a FIFO blocks it forever
    try:
        with path.open("rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    if head == b"\x93NUMPY":
        if array:
            raise InputError(f"{path.name} is a .npy file: it holds one array, not {array!r}")
        return _npy(spec, path, input_shape, max_samples, rng)
    if head[:4] == b"PK\x03\x04":
        return _npz(spec, path, array, rng, input_shape, max_samples)
    if array or rng is not None:
        raise InputError(f"{path.name} is not a .npy or .npz array file")
    return _image(spec, path, input_shape, norm)


def _named(spec: str, pairs: list[tuple[str, str]], model: Any, opts: dict[str, Any]) -> InputBatch:
    """``name=SPEC`` pairs → one batch feeding each named input."""
    infos = {name: (shape, integer) for name, shape, integer in onnx_input_infos(model)}
    known = model_input_names(model)
    seen = [n for n, _ in pairs]
    if len(set(seen)) != len(seen):
        raise InputError(f"an input is given twice in {spec!r}")
    notes: list[str] = []
    parts: dict[str, InputBatch] = {}
    for name, sub in pairs:
        if known is not None and name not in known:
            raise InputError(f"the model has no input named {name!r}: it takes {', '.join(known)}")
        shape, integer = infos.get(name, (None, False))
        if shape is not None and not all(shape):  # dynamic dims: filled when random asks
            if sub.partition(":")[0] == "random" and not sub.partition(":")[2]:
                dims = [d or DEFAULT_DYNAMIC_DIM for d in shape]
                dyn = ", ".join(_dynamic_names(model, name)) or "dimension"
                notes.append(
                    f"{name}: dynamic {dyn} set to {DEFAULT_DYNAMIC_DIM} "
                    f"(give {name}=random:{'x'.join(map(str, dims))} to choose)"
                )
                shape = tuple(dims)
            else:
                shape = None
        got = _one(sub, shape, **opts, integer=integer)
        if isinstance(got, dict):
            raise InputError(f"{name}={sub}: name one array of the .npz (file.npz:array)")
        parts[name] = got
    batch = _combine(spec, parts, model)
    if notes:
        batch.description += " · " + "; ".join(notes)
        batch.transforms.extend(notes)
    return batch


def _combine(spec: str, parts: dict[str, InputBatch], model: Any) -> InputBatch:
    """Named batches → one batch; every input must hold the same number of samples."""
    known = model_input_names(model)
    if known is not None:
        unknown = [n for n in parts if n not in known]
        if unknown:
            raise InputError(
                f"{spec}: {', '.join(unknown)} is not an input of the model; it takes "
                f"{', '.join(known)}"
            )
        parts = {n: parts[n] for n in known if n in parts} | parts
    sizes = {n: int(b.tensor.shape[0]) if b.tensor.dim() else 1 for n, b in parts.items()}
    if len(set(sizes.values())) > 1:
        got = ", ".join(f"{n}: {k}" for n, k in sizes.items())
        raise InputError(f"the inputs hold different numbers of samples ({got})")
    first = next(iter(parts.values()))
    desc = "; ".join(f"{n}: {b.description}" for n, b in parts.items())
    return InputBatch(
        first.tensor, spec, "named", desc, first.indices, first.labels, first.label_names,
        first.normalization, [t for b in parts.values() for t in b.transforms], first.seed,
        named={n: b.tensor for n, b in parts.items()},
    )  # fmt: skip


def model_input_names(model: Any) -> list[str] | None:
    """The model's input names: the ONNX graph's, or the torch forward's parameters."""
    if model is None:
        return None
    infos = onnx_input_infos(model)
    if infos:
        return [name for name, _, _ in infos]
    ensure = getattr(model, "ensure_module", None)
    module = ensure() if callable(ensure) else getattr(model, "module", model)
    forward = getattr(module, "forward", None)
    if forward is None:
        return None
    import inspect

    try:
        params = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):  # compiled or builtin: no signature to read
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None  # takes any keyword
    return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.KEYWORD_ONLY)] + [
        p.name for p in params if p.kind is p.KEYWORD_ONLY
    ]


def onnx_input_infos(model: Any) -> list[tuple[str, tuple[int, ...], bool]]:
    """(name, per-sample shape with 0 for a dynamic dimension, integer?) of each ONNX input."""
    proto = getattr(model, "onnx", None)
    if proto is None:
        return []
    from onnx import TensorProto

    ints = {TensorProto.INT64, TensorProto.INT32, TensorProto.INT16, TensorProto.INT8,
            TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
            TensorProto.BOOL}  # fmt: skip
    out = []
    for inp in GraphIndex(proto).data_inputs:
        tt = inp.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tt.shape.dim[1:]]
        out.append((inp.name, tuple(dims), tt.elem_type in ints))
    return out


def _dynamic_names(model: Any, name: str) -> list[str]:
    """The names of an ONNX input's dynamic dimensions past the batch axis (``seq``)."""
    for inp in GraphIndex(model.onnx).data_inputs:
        if inp.name == name:
            dims = inp.type.tensor_type.shape.dim[1:]
            return [d.dim_param or "?" for d in dims if not d.HasField("dim_value")]
    return []


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


def _ids(spec: str, arg: str, max_samples: int | None) -> InputBatch:
    import torch

    try:
        rows = [[int(v) for v in row.split(",") if v.strip()] for row in arg.split("/")]
    except ValueError:
        raise InputError(
            f"bad token ids {spec[:60]!r}: use ids:101,2023,102 (or ids:1,2,3/4,5,6 for two)"
        ) from None
    if not rows or not all(rows) or len({len(r) for r in rows}) > 1:
        raise InputError(
            f"bad token ids {spec[:60]!r}: give one or more sequences of the same length, "
            "e.g. ids:101,2023,102"
        )
    t = torch.tensor(rows[: max_samples or None], dtype=torch.int64)
    desc = f"token ids {'×'.join(map(str, t.shape))} (int64)"
    return InputBatch(t, spec, "ids", desc)


def _slice(rng: str | None, n: int, name: str) -> slice:
    """``"0:8"``, ``":8"``, ``"5"`` → a slice of ``n`` samples, checked."""
    if rng is None:
        return slice(None)
    m = re.fullmatch(r"\s*(\d*)\s*(:?)\s*(\d*)\s*", rng)
    if not m or (not m.group(2) and not m.group(1)):
        raise InputError(f"bad sample range [{rng[:30]}] for {name}: use [0:8], [:8] or [5]")
    lo = int(m.group(1) or 0)
    hi = int(m.group(3)) if m.group(3) else (n if m.group(2) else lo + 1)
    if hi > n or lo >= hi:
        raise InputError(
            f"sample range [{rng}] does not fit {name}: it holds {n} samples (0-{n - 1})"
        )
    return slice(lo, hi)


def _random(
    spec: str, arg: str, shape: tuple[int, ...] | None, n: int, seed: int, integer: bool = False
) -> InputBatch:
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
    dims = "×".join(str(d) for d in (n, *shape))
    if integer:  # token ids / masks: ones are valid for any vocabulary
        t = torch.ones((n, *shape), dtype=torch.int64)
        return InputBatch(t, spec, "random", f"ones {dims} (int64: an integer input)", seed=seed)
    gen = torch.Generator().manual_seed(seed)
    t = torch.randn((n, *shape), generator=gen)
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
    t, transforms = _to_model(picked, shape)
    norm = _normalize(t, _default_norm(norm_spec, kind))
    lab = [int(labels[i]) for i in idx]
    if len(idx) == 1:
        desc = f"{title}[{idx[0]}] (label={names[lab[0]]})"
    else:
        desc = f"{title}[{_ranges(idx)}] ({len(idx)} images)"
    return InputBatch(
        t, spec, kind, desc + _norm_note(norm), idx, lab, [names[i] for i in lab], norm, transforms
    )


def _image(
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
    t, transforms = _to_model(arr[None], shape)
    name = "cifar10" if tuple(t.shape[1:]) == (3, 32, 32) else "none"
    norm = _normalize(t, _default_norm(norm_spec, name))
    desc = f"image {path.name} {arr.shape[1]}×{arr.shape[0]}" + _norm_note(norm)
    return InputBatch(t, spec, "image", desc, normalization=norm, transforms=transforms)


def _npy(
    spec: str,
    path: Path,
    shape: tuple[int, ...] | None,
    max_samples: int | None,
    rng: str | None = None,
) -> InputBatch:
    _check_npy_header(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, MemoryError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:80]
        raise InputError(f"cannot read {path} as a .npy array ({reason})") from None
    return _array(spec, arr, path.name, shape, max_samples, rng, "npy")


def _npz(
    spec: str,
    path: Path,
    array: str | None,
    rng: str | None,
    shape: tuple[int, ...] | None,
    max_samples: int | None,
) -> InputBatch | dict[str, InputBatch]:
    """An .npz: the named array, its only one, or every array (named inputs) when ``array`` is
    not given and it holds several."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            members = {i.filename.removesuffix(".npy"): i for i in zf.infolist()}
            for name, info in members.items():
                if array is None or name == array:
                    _check_npz_member(zf, info, path.name)
    except (zipfile.BadZipFile, OSError, EOFError):
        raise InputError(f"{path.name} is not a valid .npz file") from None
    shown = ", ".join(_q(n) for n in list(members)[:10])
    if array is not None and array not in members:
        raise InputError(f"{path.name} holds no array named {_q(array)}; it holds {shown}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if array is None and len(members) > 1:
                if rng is not None:
                    raise InputError(f"{path.name} holds several arrays ({shown}): name one")
                return {
                    n: _array(
                        f"{spec}:{n}", npz[n], f"{path.name}:{n}", None, max_samples, None, "npz"
                    )  # fmt: skip
                    for n in members
                }
            name = array or next(iter(members), None)
            if name is None:
                raise InputError(f"{path.name} holds no arrays")
            arr = npz[name]
    except (ValueError, OSError, EOFError, MemoryError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:80]
        raise InputError(f"cannot read {path.name} as a .npz archive ({reason})") from None
    return _array(spec, arr, f"{path.name}:{name}", shape, max_samples, rng, "npz")


def _q(name: str) -> str:
    return repr(name[:80])


def _check_npz_member(zf: Any, info: Any, fname: str) -> None:
    """Refuse a member whose .npy header claims more than it holds, before reading it."""
    import math

    from numpy.lib import format as npy_format

    bad = f"{fname}: member {_q(info.filename)} is not a valid .npy array"
    try:
        with zf.open(info) as fh:
            version = npy_format.read_magic(fh)
            read = {(1, 0): npy_format.read_array_header_1_0,
                    (2, 0): npy_format.read_array_header_2_0}.get(version)  # fmt: skip
            if read is None:
                raise InputError(bad)
            shape, _, dtype = read(fh)
            header = fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, RuntimeError):
        raise InputError(bad) from None
    if dtype.hasobject:
        raise InputError(
            f"{fname}: {_q(info.filename)} holds Python objects; capture needs numbers"
        )
    if any(d < 0 for d in shape) or math.prod(shape) * dtype.itemsize > info.file_size - header:
        raise InputError(f"{bad} (its header claims more data than it holds)")


def _array(
    spec: str,
    arr: np.ndarray,
    name: str,
    shape: tuple[int, ...] | None,
    max_samples: int | None,
    rng: str | None,
    source: str,
) -> InputBatch:
    """An array used as given: a batch axis added when it lacks one, a range of samples taken,
    floats as float32, integers as int64 (token ids) unless an image model takes them."""
    import torch

    if arr.dtype.kind not in "fiub":
        raise InputError(f"{name} holds {arr.dtype} values; capture needs numbers")
    transforms = []
    if shape is not None and tuple(arr.shape) == tuple(shape):
        arr = arr[None]
        transforms.append("added a batch axis")
    elif shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise InputError(
            f"{name} has shape {tuple(arr.shape)}; the model takes {tuple(shape)} per sample "
            f"(or N×{'×'.join(map(str, shape))})"
        )
    if arr.ndim == 0:
        arr = arr[None]
    picked = ""
    if rng is not None:
        arr = arr[_slice(rng, len(arr), name)]
        picked = f"[{rng.strip()}]"
        transforms.append(f"samples {rng.strip()}")
    arr = arr[: max_samples or None]
    image_ints = shape is not None and len(shape) == 3 and arr.dtype.kind in "iu"
    dtype = np.int64 if arr.dtype.kind in "iu" and not image_ints else np.float32
    if arr.dtype.kind == "b":
        dtype = np.bool_
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=dtype))
    dims = "×".join(str(d) for d in t.shape)
    kind = "integers, " if dtype is np.int64 else ""
    desc = f"array {name}{picked} {dims} ({kind}used as given, no normalisation)"
    return InputBatch(t, spec, source, desc, transforms=transforms)


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


def _default_norm(spec: Norm | None | str, fallback: str) -> Norm | None:
    """The normalisation asked for (or recorded), else the source's own (``fallback`` name)."""
    if spec != "default":
        return spec  # type: ignore[return-value]
    return parse_normalization(fallback)


def _normalize(t: torch.Tensor, norm: Norm | None) -> dict[str, Any] | None:
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


def _norm_note(norm: dict[str, Any] | None) -> str:
    if norm is None:
        return ", pixels in [0, 1], no normalisation"
    if norm["name"].startswith("recorded"):
        return f", normalised with the mean/std {norm['name']}"
    if norm["name"].startswith("mean "):
        return f", normalised with {norm['name']}"
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
