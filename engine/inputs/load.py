"""An input spec → a batch: which source a spec names, several named inputs, an ``.npz`` of
several arrays named after the model's inputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from layerscope.engine.errors import InputError
from layerscope.engine.inputs.arrays import ARRAY_SPEC, npy_batch, npz_batches, quoted
from layerscope.engine.inputs.batch import InputBatch
from layerscope.engine.inputs.images import dataset_batch, image_batch
from layerscope.engine.inputs.model_info import (
    DEFAULT_DYNAMIC_DIM,
    dynamic_dim_names,
    model_input_names,
    model_input_shape,
    onnx_input_infos,
)
from layerscope.engine.inputs.normalization import Norm, parse_normalization, recorded_preprocessing
from layerscope.engine.inputs.synthetic import random_batch, token_ids
from layerscope.engine.paths import require_regular_file

SOURCES = ("random", "cifar10", "digits", "image", "npy", "npz", "ids", "named")


_NAMED = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=(.*)", re.S)


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
            names = ", ".join(quoted(n) for n in list(batch)[:10])
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
        return random_batch(spec, arg, input_shape, max_samples or 1, seed, integer)
    if kind in ("cifar10", "digits"):
        return dataset_batch(spec, kind, arg, input_shape, data_dir, max_samples, norm)
    if kind == "ids":
        return token_ids(spec, arg, max_samples)
    path = Path(spec).expanduser()
    array, rng = None, None
    m = ARRAY_SPEC.fullmatch(spec)
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
        return npy_batch(spec, path, input_shape, max_samples, rng)
    if head[:4] == b"PK\x03\x04":
        return npz_batches(spec, path, array, rng, input_shape, max_samples)
    if array or rng is not None:
        raise InputError(f"{path.name} is not a .npy or .npz array file")
    return image_batch(spec, path, input_shape, norm)


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
                dyn = ", ".join(dynamic_dim_names(model, name)) or "dimension"
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
