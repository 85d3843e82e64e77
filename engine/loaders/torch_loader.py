"""PyTorch files: state dicts, Lightning checkpoints, whole pickled modules, TorchScript archives.

State dicts and checkpoints load with ``weights_only=True`` and ``mmap=True``: nothing in them can
run code, and tensor bytes stay on disk until a tensor is read. A whole pickled ``nn.Module`` can
run arbitrary code when unpickled, so it loads only with ``trust=True``.

Long because zip and legacy pickles, Lightning checkpoints, whole modules, TorchScript and
--arch binding share one state-dict search and one error mapping for torch.load.
"""

from __future__ import annotations

import pickle
import struct
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from layerscope.engine.errors import (
    ArchitectureError,
    ModelFileError,
    UnknownFormatError,
    UntrustedPickleError,
    first_line,
)
from layerscope.engine.loaders.common import add_flat_tensors, guess_kinds, ref_from_tensor
from layerscope.engine.loaders.torch_meta import TensorMeta
from layerscope.engine.loaders.zip_check import ArchiveCheck, check_archive
from layerscope.engine.loaders.zip_index import ZipIndex
from layerscope.engine.model import Model, TensorRef, TreeBuilder

# Keys under which training scripts commonly nest the weights of a checkpoint.
_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "weights")


def _torch_load(path: Path, *, weights_only: bool, mmap: bool) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=mmap)
    except pickle.UnpicklingError as exc:
        if weights_only and "Weights only load failed" in str(exc):
            raise UntrustedPickleError(
                f"{path.name} holds pickled Python objects (e.g. a whole nn.Module) that can run "
                "code when loaded; if you trust where it came from, pass --trust (in the app: confirm)"
            ) from None
        raise ModelFileError(f"{path}: corrupt pickle ({first_line(exc)[:120]})") from None
    except (ImportError, AttributeError) as exc:  # a pickled class that is not importable here
        raise ModelFileError(
            f"{path.name}: the pickled model needs code that is not available here ({first_line(exc)}); "
            "open it where its classes are importable, or save a state dict and use --arch"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, IndexError, KeyError, TypeError,
            struct.error, RecursionError) as exc:  # fmt: skip
        raise ModelFileError(
            f"{path}: corrupt or truncated PyTorch file ({first_line(exc)[:120]})"
        ) from None


def load_torch(
    path: Path,
    *,
    fmt: str,
    arch: str | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    trust: bool = False,
    device: str = "cpu",
    archive: ZipIndex | None = None,
) -> Model:
    """Load a ``torch.save`` file (zip or legacy pickle); ``archive``: the zip, already open."""
    import torch

    mmap = fmt == "torch-zip"  # legacy pickles cannot be memory-mapped
    if fmt == "torch-zip":
        # Compressed/short members, corrupt zip, oversized pickle; and, in the same one walk of
        # data.pkl, the tensors' metadata when the pickle is plain.
        check = check_archive(path, archive)
        mmap = check.mmap_ok
        if arch is None and check.has_metadata:
            return _load_metadata_only(path, check)
    try:
        obj = _torch_load(path, weights_only=True, mmap=mmap)
    except UntrustedPickleError:
        if not trust:
            raise
        obj = _torch_load(path, weights_only=False, mmap=False)

    if isinstance(obj, torch.jit.ScriptModule):
        return model_from_module(path, "torchscript", obj, device)
    if isinstance(obj, torch.nn.Module):
        try:
            obj = obj.eval()
        except (AttributeError, RuntimeError) as exc:
            raise ModelFileError(
                f"{path.name}: the pickled module is broken ({first_line(exc)})"
            ) from None
        return model_from_module(path, "torch-module", obj, device)

    kind, tensors, meta = _find_state_dict(obj, path)
    if kind == "lightning-ckpt":
        tensors = _strip_common_prefix(tensors, meta)
    if arch is not None:
        from layerscope.engine import zoo

        hparams = obj.get("hyper_parameters") if kind == "lightning-ckpt" else None
        kwargs, sources = zoo.arch_kwargs_for(
            arch, arch_kwargs or {}, hparams if isinstance(hparams, Mapping) else None
        )
        module = bind_architecture(tensors, arch, kwargs, path, sources=sources)
        model = model_from_module(path, kind, module, device)
        model.metadata.update(meta, arch=arch)
        if kwargs:  # which constructor argument came from where
            model.metadata.update(arch_kwargs=kwargs, arch_kwargs_from=sources)
        return model
    builder = TreeBuilder()
    add_flat_tensors(builder, tensors.items(), str(path))
    guess_kinds(builder)
    return builder.build(path, kind, metadata=meta)


def _load_metadata_only(path: Path, check: ArchiveCheck) -> Model:
    """Open a zip state dict/checkpoint from its checked pickle's metadata alone.

    Tensor bytes are read on first ``load()``: the archive is then ``torch.load``-ed once,
    memory-mapped, and shared by every tensor of the model.
    """
    kind, tensors, meta = _find_state_dict(check.metadata, path)
    if kind == "lightning-ckpt":
        tensors = _strip_common_prefix(tensors, meta)
    archive = _LazyArchive(path, check.mmap_ok)
    source = str(path)
    builder = TreeBuilder()
    load = archive.tensor
    builder.add_tensors([
        TensorRef(name=name, shape=tm.shape, dtype=tm.dtype, loader=partial(load, name),
                  source=source, nbytes=tm.nbytes)
        for name, tm in tensors.items()
    ])  # fmt: skip
    guess_kinds(builder)
    return builder.build(path, kind, metadata=meta)


class _LazyArchive:
    """The real (memory-mapped) tensors of an archive, loaded once on first use."""

    def __init__(self, path: Path, mmap: bool = True) -> None:
        self.path = path
        self.mmap = mmap  # False when a member is compressed: mapped bytes would be wrong
        self._tensors: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def tensor(self, name: str) -> Any:
        with self._lock:
            if self._tensors is None:
                obj = _torch_load(self.path, weights_only=True, mmap=self.mmap)
                kind, tensors, meta = _find_state_dict(obj, self.path)
                if kind == "lightning-ckpt":
                    tensors = _strip_common_prefix(tensors, meta)
                self._tensors = tensors
        try:
            return self._tensors[name].detach()
        except KeyError:
            raise ModelFileError(
                f"{self.path}: tensor {name!r} vanished; was the file replaced?"
            ) from None


def load_torch_zip(path: Path, **kwargs: Any) -> Model:
    return load_torch(path, fmt="torch-zip", **kwargs)


def load_torch_pickle(path: Path, **kwargs: Any) -> Model:
    return load_torch(path, fmt="torch-pickle", **kwargs)


def load_torchscript(path: Path, *, device: str = "cpu", trust: bool = False, **_: Any) -> Model:
    """Without trust, only list the archive (TorchScript is code); with it, ``torch.jit.load``."""
    import torch

    if not trust:
        from layerscope.engine.loaders.torchscript_meta import load_torchscript_listing

        return load_torchscript_listing(path)
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(
            f"{path}: corrupt or unreadable TorchScript archive ({first})"
        ) from None
    return model_from_module(path, "torchscript", module.eval(), device)


def _find_state_dict(obj: Any, path: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Locate the weights in whatever ``torch.load`` returned: (format, flat tensors, metadata)."""
    if type(obj) not in _PLAIN_DICTS and _is_tensor(obj):
        return "state-dict", {"tensor": obj}, {}
    if not _is_mapping(obj):
        raise UnknownFormatError(
            f"{path.name} holds a {type(obj).__name__}, not a model, state dict or checkpoint"
        )
    meta: dict[str, Any] = {}
    if "state_dict" in obj and (
        "pytorch-lightning_version" in obj or "epoch" in obj or "global_step" in obj
    ):
        for key in ("epoch", "global_step", "pytorch-lightning_version"):
            if key in obj:
                meta[key] = obj[key]
        if _is_mapping(obj.get("hyper_parameters")):
            meta["hyper_parameters"] = {
                k: v
                for k, v in obj["hyper_parameters"].items()
                if isinstance(v, int | float | str | bool)
            }
        return "lightning-ckpt", dict(_flatten(obj["state_dict"])), meta
    flat = dict(_flatten(obj))
    if not flat:
        raise UnknownFormatError(f"{path.name} is a PyTorch file with no tensors in it")
    for key in _NESTED_KEYS:  # {"model": sd, "optimizer": ...}: show the model's weights
        if _is_mapping(obj.get(key)):
            nested = dict(_flatten(obj[key]))
            if nested:
                meta["nested_under"] = key
                return "state-dict", nested, meta
    return "state-dict", flat, meta


_PLAIN_DICTS = (dict, OrderedDict)


def _is_mapping(value: Any) -> bool:
    """``isinstance(value, Mapping)``, without the ABC check for plain dicts and None (the first
    check of each type runs Python code in ``abc``: ~10 us per type on the first open)."""
    return type(value) in _PLAIN_DICTS or (value is not None and isinstance(value, Mapping))


def _is_tensor(value: Any) -> bool:
    if type(value) is TensorMeta:
        return True
    torch = sys.modules.get("torch")  # no torch imported: nothing can be a torch.Tensor
    return torch is not None and isinstance(value, torch.Tensor)


def _flatten(obj: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, tensor) of nested mappings, depth first.

    Iterative, and each mapping is walked once: a pickle can nest dicts deeper than Python's
    recursion limit, refer to itself, or share one dict along 2**30 paths in a few hundred bytes.
    """
    if not prefix and type(obj) in _PLAIN_DICTS:
        items = obj.items()
        # A plain state dict (string keys, TensorMeta values): the pairs as they are, checked in
        # one generator instead of a call per value.
        if all(type(k) is str and type(v) is TensorMeta for k, v in items):
            yield from items
            return
    seen = {id(obj)}
    stack = [(prefix, iter(obj.items()))]
    while stack:
        prefix, items = stack[-1]
        item = next(items, None)
        if item is None:
            stack.pop()
            continue
        key, value = item
        name = f"{prefix}{key}"
        if _is_tensor(value):
            yield name, value
        elif _is_mapping(value):
            if id(value) not in seen:
                seen.add(id(value))
                stack.append((name + ".", iter(value.items())))
        elif name.endswith("_packed_params") and isinstance(value, tuple) and value:
            # Eager torch.ao quantized Linear: "fc._packed_params._packed_params" = (weight, bias).
            layer = name.removesuffix("._packed_params").removesuffix("._packed_params")
            for role, t in zip(("weight", "bias"), value, strict=False):
                if _is_tensor(t):
                    yield f"{layer}.{role}", t


def _strip_common_prefix(tensors: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """Lightning stores ``self.model.conv.weight`` as ``model.conv.weight``: drop a shared first part."""
    firsts = {k.split(".", 1)[0] for k in tensors}
    if len(firsts) == 1 and all("." in k for k in tensors):
        prefix = firsts.pop() + "."
        meta["stripped_prefix"] = prefix
        return {k[len(prefix) :]: v for k, v in tensors.items()}
    return tensors


def bind_architecture(
    tensors: Mapping[str, Any],
    arch: str,
    arch_kwargs: Mapping[str, Any],
    path: Path,
    *,
    sources: Mapping[str, str] | None = None,
) -> Any:
    """Build ``arch`` and load ``tensors`` into it strictly; mismatches list the keys at fault.

    ``sources`` (argument → ``arch_kwargs`` / ``hyper_parameters``) lets a mismatch say which
    arguments a checkpoint supplied: the likely culprits.
    """
    from layerscope.engine import zoo

    module = zoo.build(arch, **dict(arch_kwargs))
    from_ckpt = [
        f"{k}={arch_kwargs[k]!r}" for k, v in (sources or {}).items() if v == "hyper_parameters"
    ]
    built = (
        f" (built with {', '.join(from_ckpt)} from the checkpoint's hyper_parameters)"
        if from_ckpt
        else ""
    )
    expected = set(module.state_dict())
    best: tuple[int, dict[str, Any], set[str], set[str]] | None = None
    for prefix in _candidate_prefixes(tensors):
        cand = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        missing, unexpected = expected - set(cand), set(cand) - expected
        score = len(missing) + len(unexpected) + (len(tensors) - len(cand))
        if best is None or score < best[0]:
            best = (score, cand, missing, unexpected)
    assert best is not None
    _, cand, missing, unexpected = best
    if missing or unexpected:
        raise ArchitectureError(
            f"{path.name} does not fit --arch {arch}{built}: "
            + "; ".join(
                f"{label} {len(keys)} key(s): {_few(keys)}"
                for label, keys in (("missing", missing), ("unexpected", unexpected))
                if keys
            )
        )
    try:
        module.load_state_dict(cand, strict=True)
    except RuntimeError as exc:  # shapes differ
        detail = str(exc).split("\n\t", 1)[-1].split("\n")[0]
        raise ArchitectureError(
            f"{path.name} does not fit --arch {arch}{built}: {detail}"
        ) from None
    return module.eval()


def _candidate_prefixes(tensors: Mapping[str, Any]) -> list[str]:
    prefixes = [""]
    for k in tensors:
        parts = k.split(".")
        for i in range(1, min(3, len(parts))):
            p = ".".join(parts[:i]) + "."
            if p not in prefixes:
                prefixes.append(p)
        if len(prefixes) > 8:
            break
    return prefixes


def _few(keys: set[str], n: int = 6) -> str:
    items = sorted(keys)
    more = f" … and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def model_from_module(path: Path, fmt: str, module: Any, device: str) -> Model:
    """Layer tree from ``named_modules``; tensors from parameters, buffers and packed quantized params."""
    import torch

    builder = TreeBuilder()
    for name, mod in module.named_modules():
        kind = getattr(mod, "original_name", None) or type(mod).__name__
        layer = builder.add_layer(name, kind) if name else builder.layers[""]
        if not name:
            layer.kind = kind
        prefix = f"{name}." if name else ""
        for pname, t in list(mod.named_parameters(recurse=False)) + list(
            mod.named_buffers(recurse=False)
        ):
            if t is None or not isinstance(t, torch.Tensor):
                continue
            builder.add_tensor(
                ref_from_tensor(prefix + pname, t, str(path), role=pname), layer=name
            )
        for role, t in _packed_tensors(mod):
            builder.add_tensor(ref_from_tensor(prefix + role, t, str(path), role=role), layer=name)
    if device != "cpu":
        module = module.to(device)
    return builder.build(path, fmt, module=module, metadata={"device": device})


def _packed_tensors(mod: Any) -> list[tuple[str, Any]]:
    """Weights of quantized conv/linear modules, which hide them in packed C++ objects."""
    import torch

    if (getattr(mod, "original_name", None) or type(mod).__name__) == "LinearPackedParams":
        return []  # its parent Linear reports these weights
    packed = getattr(mod, "_packed_params", None) if _has_attr(mod, "_packed_params") else None
    if packed is None:
        return []
    if isinstance(packed, torch.nn.Module) or _has_attr(
        packed, "_packed_params"
    ):  # LinearPackedParams
        packed = packed._packed_params
    type_name = str(getattr(packed, "_type", lambda: "")()) if hasattr(packed, "_type") else ""
    try:
        if "Conv3d" in type_name:
            w, b = torch.ops.quantized.conv3d_unpack(packed)
        elif "Conv" in type_name or "Conv" in type(mod).__name__:
            w, b = torch.ops.quantized.conv2d_unpack(packed)
        else:
            w, b = torch.ops.quantized.linear_unpack(packed)
    except (RuntimeError, TypeError):
        return []
    out = [("weight", w)]
    if b is not None:
        out.append(("bias", b))
    return out


def _has_attr(obj: Any, name: str) -> bool:
    try:
        getattr(obj, name)
        return True
    except (AttributeError, RuntimeError):
        return False
