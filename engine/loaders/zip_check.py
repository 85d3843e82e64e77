"""Check a ``torch.save`` zip archive before any tensor is memory-mapped from it.

``torch.load(mmap=True)`` maps the whole file and reads each storage at its zip member's offset,
trusting that the member is stored (not compressed) and as long as the storage. A re-packed
archive breaks both silently: DEFLATE-compressed bytes read as weights, a short member reads into
the next one. So, before mapping, this module

* opens the archive and reads ``data.pkl`` (at most ``MAX_PICKLE_BYTES``; CRC checked by
  ``zipfile``), turning any corruption into one ``ModelFileError`` line;
* walks the pickle with an unpickler that imports nothing and runs nothing (every global is an
  inert stub) to learn each storage's key, dtype and size, and each tensor's extent in it;
* compares those with the members: a compressed member means "load without mmap" (torch inflates
  it correctly then), a member shorter than its storage, or a tensor reaching past its storage or
  claiming more than ``MAX_EXPANDED_ELEMENTS`` elements of a smaller storage, is refused.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerscope.engine.errors import ModelFileError

# A state dict's pickle is ~100 bytes per tensor: 64 MiB covers ~600k tensors. A bigger data.pkl
# would be inflated into memory whole, so it is refused rather than read.
MAX_PICKLE_BYTES = 64 << 20
# Expanded (stride-0) tensors hold more elements than their storage; statistics visit every
# element, so such a view may claim at most this many (2**28 = 268M, ~1 GB of float32).
MAX_EXPANDED_ELEMENTS = 1 << 28

# Bytes per element of the storage classes torch.save names in persistent ids.
_STORAGE_ITEMSIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16, "QInt8Storage": 1,
    "QUInt8Storage": 1, "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1,
    "UntypedStorage": 1,
}  # fmt: skip


@dataclass
class ArchiveCheck:
    """What the checks found: whether mmap is safe, and the pickle bytes (read once)."""

    pickle_name: str
    pickle: bytes
    mmap_ok: bool = True
    compressed: list[str] = field(default_factory=list)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def _corrupt(path: Path, what: str) -> ModelFileError:
    return ModelFileError(f"{path}: corrupt or truncated zip archive ({what})")


def check_archive(path: Path) -> ArchiveCheck:
    """Open ``path``, read its ``data.pkl`` and check every storage member against the pickle.

    Raises:
        ModelFileError: corrupt zip, oversized pickle, member too short, tensor out of bounds.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {i.filename: i for i in zf.infolist()}
            name = next((n for n in infos if n.endswith("data.pkl")), None)
            if name is None:
                raise ModelFileError(f"{path}: a zip archive without data.pkl; not a PyTorch file")
            size = infos[name].file_size
            if size > MAX_PICKLE_BYTES:
                raise ModelFileError(
                    f"{path.name}: data.pkl inflates to {_mib(size)}, over the "
                    f"{_mib(MAX_PICKLE_BYTES)} limit for a PyTorch pickle; refusing to read it"
                )
            with zf.open(name) as fh:  # never trust the header's size: read one byte past it
                data = fh.read(MAX_PICKLE_BYTES + 1)
            if len(data) > MAX_PICKLE_BYTES:
                raise ModelFileError(
                    f"{path.name}: data.pkl is over the {_mib(MAX_PICKLE_BYTES)} limit for a "
                    "PyTorch pickle; refusing to read it"
                )
    except ModelFileError:
        raise
    except UnicodeDecodeError:  # the message would quote the file's bytes
        raise _corrupt(path, "a member name is not valid UTF-8") from None
    except NotImplementedError as exc:  # "zip file version 8.2", unknown compression method
        raise _corrupt(path, _first_line(exc)) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise _corrupt(path, _first_line(exc)) from None
    except Exception as exc:  # noqa: BLE001 - zlib.error, struct.error, ...: all one line
        raise _corrupt(path, type(exc).__name__) from None
    check = ArchiveCheck(name, data)
    prefix = name[: -len("data.pkl")]
    try:
        storages, views = _scan(data)
    except ModelFileError as exc:
        raise ModelFileError(f"{path.name}: {exc.message}") from None
    except Exception:  # noqa: BLE001 - unreadable pickle: torch.load will explain; no mmap then
        storages, views = {}, []
        check.mmap_ok = False
    for key, (itemsize, numel) in storages.items():
        info = infos.get(f"{prefix}data/{key}")
        if info is None:
            raise ModelFileError(f"{path.name}: storage data/{key} is missing from the archive")
        if info.compress_type != zipfile.ZIP_STORED:
            check.compressed.append(info.filename)
            check.mmap_ok = False
        if itemsize is not None and info.file_size < itemsize * numel:
            raise ModelFileError(
                f"{path.name}: member data/{key} is too short: {info.file_size} bytes for a "
                f"storage of {itemsize * numel} bytes (truncated or re-packed archive)"
            )
    for key, offset, size, stride in views:
        _check_view(key, storages.get(key, (None, None))[1], offset, size, stride)
    return check


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_view(key: str, storage_numel: int | None, offset: Any, size: Any, stride: Any) -> None:
    """A tensor must stay inside its storage, and may not blow a small storage up unboundedly."""
    if not (
        isinstance(offset, int)
        and isinstance(size, tuple)
        and isinstance(stride, tuple)
        and len(size) == len(stride)
        and all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride))
    ):
        raise ModelFileError(f"tensor on storage data/{key} has an invalid shape or strides")
    numel = 1
    for s in size:
        numel *= s
    if numel == 0 or storage_numel is None:
        return
    extent = offset + 1 + sum((s - 1) * st for s, st in zip(size, stride, strict=True))
    if extent > storage_numel:
        raise ModelFileError(
            f"a tensor reaches element {extent:,} of storage data/{key}, which holds "
            f"{storage_numel:,}"
        )
    if numel > storage_numel and numel > MAX_EXPANDED_ELEMENTS:
        raise ModelFileError(
            f"a tensor claims {numel:,} elements on storage data/{key} of {storage_numel:,} "
            f"(expanded strides), over the limit of {MAX_EXPANDED_ELEMENTS:,} elements"
        )


# --- an unpickler that builds nothing real ------------------------------------------------------


class _Stub:
    """Stands for any global, call result or built object: accepts everything, does nothing.

    A class (not an instance) so that NEWOBJ (``cls.__new__(cls, *args)``) works on it too.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> _Stub:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Stub:
        return _Stub()

    def __setstate__(self, state: Any) -> None:
        pass

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, value: Any) -> None:
        pass

    def extend(self, values: Any) -> None:
        pass


@dataclass(frozen=True)
class _StorageRef:
    key: str


class _Scanner(pickle.Unpickler):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.storages: dict[str, tuple[int | None, int]] = {}
        self.views: list[tuple[str, Any, Any, Any]] = []
        self._storage_types: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in (
            ("torch._utils", "_rebuild_tensor_v2"),
            ("torch._utils", "_rebuild_tensor"),
        ):
            return self._rebuild_tensor
        if module == "torch" and name in _STORAGE_ITEMSIZE:  # keeps its name for the itemsize
            return self._storage_types.setdefault(name, type(name, (_Stub,), {}))
        return _Stub

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> _Stub:
        if isinstance(storage, _StorageRef):
            self.views.append((storage.key, offset, size, stride))
        return _Stub()

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            _, stype, key, _, numel = pid[:5]
            if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
                raise ModelFileError("a storage reference in data.pkl is malformed")
            itemsize = _STORAGE_ITEMSIZE.get(getattr(stype, "__name__", ""))
            self.storages[key] = (itemsize, numel)
            return _StorageRef(key)
        return _Stub()


def _scan(data: bytes) -> tuple[dict[str, tuple[int | None, int]], list[tuple[str, Any, Any, Any]]]:
    """Storages (key → itemsize, element count) and tensor views (key, offset, size, stride)."""
    scanner = _Scanner(data)
    scanner.load()
    return scanner.storages, scanner.views
