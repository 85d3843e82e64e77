"""``load_model``: sniff the format, pick the loader, cache the result.

A registry maps each sniffed format to its loader. Loaded models are cached by path, size and
modification time (and the options that change the result), in a small LRU, so reopening an
unchanged file in the app is instant and does not pile up copies.
"""

from __future__ import annotations

import gc
import importlib
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from layerscope.engine.errors import ModelFileError
from layerscope.engine.loaders.folder_scan import FolderScan
from layerscope.engine.loaders.sniff import sniff, sniff_open
from layerscope.engine.loaders.zip_index import ZipIndex
from layerscope.engine.model import Model

CACHE_SIZE = 4
_cache: OrderedDict[tuple[Any, ...], Model] = OrderedDict()
_lock = threading.Lock()


# Format → (module, function); only the loader a file needs is imported (ONNX costs ~20 ms).
_REGISTRY: dict[str, tuple[str, str]] = {
    "torch-zip": ("torch_loader", "load_torch_zip"),
    "torch-pickle": ("torch_loader", "load_torch_pickle"),
    "torchscript": ("torch_loader", "load_torchscript"),
    "onnx": ("onnx_loader", "load_onnx"),
    "safetensors": ("safetensors_loader", "load_safetensors"),
    "safetensors-sharded": ("safetensors_loader", "load_sharded"),
}


def _loader_for(fmt: str) -> Callable[..., Model]:
    module, func = _REGISTRY[fmt]
    return getattr(importlib.import_module(f"layerscope.engine.loaders.{module}"), func)


def load_model(
    path: str | Path,
    *,
    arch: str | None = None,
    arch_kwargs: Mapping[str, Any] | None = None,
    trust: bool = False,
    device: str = "cpu",
) -> Model:
    """Open any supported model file or sharded folder as a :class:`~layerscope.engine.model.Model`.

    Args:
        path: a model file (PyTorch, Lightning, TorchScript, ONNX, safetensors) or a shard folder.
        arch: for state dicts and checkpoints, a zoo name (``resnet8``) or ``package.module:Class``
            to load the weights into, which makes the model runnable.
        arch_kwargs: constructor arguments for ``arch``.
        trust: allow unpickling a whole ``nn.Module`` (it can run code).
        device: where a runnable torch module is placed.

    Raises:
        LayerscopeError: a one-line reason (missing, corrupt, unknown, untrusted, mismatched).
    """
    path = Path(path).expanduser()
    # One stat, and a folder listed once: sniffing, the cache key and the loader all ask them.
    try:
        st: os.stat_result | None = os.stat(path)
    except (OSError, ValueError):  # sniff_open says why, in one line
        st = None
    scan = FolderScan(path) if st is not None and stat.S_ISDIR(st.st_mode) else None
    fmt, archive = sniff_open(path, scan, st)
    try:
        with _gc_paused():
            model = _load(path, st, fmt, archive, scan, arch, arch_kwargs, trust, device)
    finally:
        if archive is not None:
            archive.close()
    return model


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a model opens (threads share one pause).

    Opening makes a few long-lived objects per tensor (refs, layers, header entries), nothing
    cyclic to collect; but every few hundred allocations start a collection, and the full ones
    walk every object of the process (torch's ~170k): at 10,000 tensors they were 70% of the open
    time. Collection resumes as it was afterwards, and counts on from there.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def _load(
    path: Path,
    st: os.stat_result | None,
    fmt: str,
    archive: ZipIndex | None,
    scan: FolderScan | None,
    arch: str | None,
    arch_kwargs: Mapping[str, Any] | None,
    trust: bool,
    device: str,
) -> Model:
    try:
        st = st or path.stat()
        # The file itself (device, inode), not its name: a link or another spelling of the
        # path finds the same entry, a file replaced under the same name does not.
        key = (
            st.st_dev,
            st.st_ino,
            *(scan.fingerprint() if scan is not None else (st.st_size, st.st_mtime_ns)),
            arch,
            repr(sorted((arch_kwargs or {}).items())),
            trust,
            device,
        )
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror})") from None
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    # A PyTorch zip's loader reuses the archive sniffing opened (one central-directory parse).
    extra: dict[str, Any] = {}
    if fmt == "torch-zip" and archive is not None:
        extra["archive"] = archive
    elif fmt == "safetensors-sharded" and scan is not None:
        extra["scan"] = scan
    model = _loader_for(fmt)(
        path, arch=arch, arch_kwargs=arch_kwargs, trust=trust, device=device, **extra
    )
    with _lock:
        _cache[key] = model
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def clear_cache() -> None:
    with _lock:
        _cache.clear()


__all__ = ["load_model", "sniff", "clear_cache"]
