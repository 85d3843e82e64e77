"""Check a ``torch.save`` zip archive before any tensor is memory-mapped from it.

``torch.load(mmap=True)`` maps the whole file and reads each storage at its zip member's offset,
trusting that the member is stored (not compressed) and as long as the storage. A re-packed
archive breaks both silently: DEFLATE-compressed bytes read as weights, a short member reads into
the next one. So, before mapping, this module

* lists the archive (``zip_index``: its central directory, strictly) and reads ``data.pkl``
  through its local header (at most ``MAX_PICKLE_BYTES``, CRC checked), turning any corruption
  into one ``ModelFileError`` line;
* walks the pickle with an unpickler that imports nothing and runs nothing (every global is an
  inert stub) to learn each storage's key, dtype and size, and each tensor's extent in it;
* compares those with the members: a compressed member means "load without mmap" (torch inflates
  it correctly then), a member shorter than its storage, or a tensor reaching past its storage or
  claiming more than ``MAX_EXPANDED_ELEMENTS`` elements of a smaller storage, is refused.

The same walk also gives the loader its metadata, so ``data.pkl`` is unpickled once per open: where
the pickle holds only dicts, ``OrderedDict``, plain values, tensors and parameters, the result is
the unpickled object with each tensor as a ``TensorMeta`` (``ArchiveCheck.metadata``). Any other
global is still an inert stub and only marks the result unusable (the loader then uses
``torch.load(weights_only=True)``), so this is never less safe than ``weights_only=True``.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerscope.engine.errors import ModelFileError
from layerscope.engine.loaders.torch_meta import _STORAGE_DTYPES, TensorMeta
from layerscope.engine.loaders.zip_index import STORED, MemberTooBig, ZipIndex

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
    """What the checks found: whether mmap is safe, the pickle bytes (read once) and, when the
    pickle holds nothing but dicts, plain values and tensors, its object with ``TensorMeta``
    tensors (``has_metadata``; ``metadata`` may itself be ``None`` when the pickle is ``None``)."""

    pickle_name: str
    pickle: bytes
    mmap_ok: bool = True
    compressed: list[str] = field(default_factory=list)
    has_metadata: bool = False
    metadata: Any = None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def _corrupt(path: Path, what: str) -> ModelFileError:
    return ModelFileError(f"{path}: corrupt or truncated zip archive ({what})")


def check_archive(path: Path, archive: ZipIndex | None = None) -> ArchiveCheck:
    """Open ``path`` (or use ``archive``, the same file already open: its central directory is
    not parsed again), read its ``data.pkl`` and check every storage member against the pickle.
    The archive is closed on return.

    Raises:
        ModelFileError: corrupt zip, oversized pickle, member too short, tensor out of bounds.
    """
    with archive or ZipIndex(path) as index:
        infos = index.entries
        name = next((n for n in infos if n.endswith("data.pkl")), None)
        if name is None:
            raise ModelFileError(f"{path}: a zip archive without data.pkl; not a PyTorch file")
        size = infos[name].size
        if size > MAX_PICKLE_BYTES:
            raise ModelFileError(
                f"{path.name}: data.pkl inflates to {_mib(size)}, over the "
                f"{_mib(MAX_PICKLE_BYTES)} limit for a PyTorch pickle; refusing to read it"
            )
        try:  # never trust the header's size: read at most one byte past the limit
            data = index.read(infos[name], MAX_PICKLE_BYTES)
        except MemberTooBig:
            data = b""
            too_big = True
        except NotImplementedError:  # bzip2, lzma: zipfile inflates those
            data = _read_with_zipfile(path, name)
            too_big = len(data) > MAX_PICKLE_BYTES
        else:
            too_big = False
        if too_big:
            raise ModelFileError(
                f"{path.name}: data.pkl is over the {_mib(MAX_PICKLE_BYTES)} limit for a "
                "PyTorch pickle; refusing to read it"
            )
    check = ArchiveCheck(name, data)
    prefix = name[: -len("data.pkl")]
    try:
        scanner = _scan(data)
    except ModelFileError as exc:
        raise ModelFileError(f"{path.name}: {exc.message}") from None
    except Exception:  # noqa: BLE001 - unreadable pickle: torch.load will explain; no mmap then
        scanner = None
        check.mmap_ok = False
    storages, views = (scanner.storages, scanner.views) if scanner else ({}, [])
    for key, (itemsize, numel) in storages.items():
        info = infos.get(f"{prefix}data/{key}")
        if info is None:
            raise ModelFileError(f"{path.name}: storage data/{key} is missing from the archive")
        if info.method != STORED:
            check.compressed.append(info.name)
            check.mmap_ok = False
        if itemsize is not None and info.size < itemsize * numel:
            raise ModelFileError(
                f"{path.name}: member data/{key} is too short: {info.size} bytes for a "
                f"storage of {itemsize * numel} bytes (truncated or re-packed archive)"
            )
    for key, offset, size, stride in views:
        _check_view(key, storages.get(key, (None, None))[1], offset, size, stride)
    if isinstance(scanner, _MetaScanner) and scanner.unsupported is None:
        check.has_metadata, check.metadata = True, scanner.result
    return check


def _read_with_zipfile(path: Path, name: str) -> bytes:
    """``name`` (at most one byte past the limit) through ``zipfile``, for the compression
    methods ``ZipIndex`` does not inflate itself; any failure is one ``ModelFileError`` line."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open(name) as fh:
            return fh.read(MAX_PICKLE_BYTES + 1)
    except UnicodeDecodeError:  # the message would quote the file's bytes
        raise _corrupt(path, "a member name is not valid UTF-8") from None
    except NotImplementedError as exc:  # unknown compression method
        raise _corrupt(path, _first_line(exc)) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise _corrupt(path, _first_line(exc)) from None
    except Exception as exc:  # noqa: BLE001 - zlib.error, struct.error, ...: all one line
        raise _corrupt(path, type(exc).__name__) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_view(key: str, storage_numel: int | None, offset: Any, size: Any, stride: Any) -> None:
    """A tensor must stay inside its storage, and may not blow a small storage up unboundedly."""
    # One loop over the dimensions (called once per tensor of the pickle: kept cheap).
    valid = (
        isinstance(offset, int)
        and offset >= 0
        and isinstance(size, tuple)
        and isinstance(stride, tuple)
        and len(size) == len(stride)
    )
    numel, extent = 1, offset + 1 if valid else 0
    if valid:
        for s, st in zip(size, stride):  # noqa: B905 - lengths checked just above
            if not (isinstance(s, int) and isinstance(st, int) and s >= 0 and st >= 0):
                valid = False
                break
            numel *= s
            extent += (s - 1) * st  # used only when numel > 0, i.e. every s >= 1
    if not valid:
        raise ModelFileError(f"tensor on storage data/{key} has an invalid shape or strides")
    if numel == 0 or storage_numel is None:
        return
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


def _fast_reader(data: bytes) -> io.BufferedReader:
    """``data`` as a file the C unpickler reads fast: with ``peek`` it prefetches blocks, where a
    bare ``BytesIO`` costs it a Python-level ``read`` per opcode (4x slower on a state dict)."""
    return io.BufferedReader(io.BytesIO(data), buffer_size=1 << 16)


class _StorageRef(tuple):
    """A storage named in data.pkl: ``(key, dtype)``, dtype the torch dtype name of a known typed
    storage (for TensorMeta) or None. A tuple subclass made by ``tuple.__new__``: one per tensor,
    built without a Python frame."""

    __slots__ = ()


_new_tuple = tuple.__new__


class _Scanner(pickle.Unpickler):
    """Records storages and tensor views; every other global is an inert ``_Stub``."""

    def __init__(self, data: bytes) -> None:
        super().__init__(_fast_reader(data))
        self.storages: dict[str, tuple[int | None, int]] = {}
        self.views: list[tuple[str, Any, Any, Any]] = []
        self._storage_types: dict[str, type] = {}
        # The storage classes find_class made → (itemsize, dtype): one lookup per storage.
        self._storage_info: dict[type, tuple[int, str | None]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in (
            ("torch._utils", "_rebuild_tensor_v2"),
            ("torch._utils", "_rebuild_tensor"),
        ):
            return self._rebuild_tensor
        if module == "torch" and name in _STORAGE_ITEMSIZE:  # keeps its name for the itemsize
            stype = self._storage_types.get(name)
            if stype is None:
                stype = self._storage_types[name] = type(name, (_Stub,), {})
                self._storage_info[stype] = (_STORAGE_ITEMSIZE[name], _STORAGE_DTYPES.get(name))
            return stype
        return _Stub

    def _rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> _Stub:
        if type(storage) is _StorageRef:
            self.views.append((storage[0], offset, size, stride))
        return _Stub()

    def persistent_load(self, pid: Any) -> Any:
        # Once per storage (a tensor each, in a state dict): kept to a few lookups.
        if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
            key, numel = pid[2], pid[4]
            if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
                raise ModelFileError("a storage reference in data.pkl is malformed")
            try:  # only a class find_class made has an itemsize (and a dtype, if typed)
                itemsize, dtype = self._storage_info.get(pid[1], (None, None))
            except TypeError:  # an unhashable "class"
                itemsize = dtype = None
            self.storages[key] = (itemsize, numel)
            return _new_tuple(_StorageRef, (key, dtype))
        return self._other_persistent_id()

    def _other_persistent_id(self) -> Any:
        return _Stub()


class _MetaScanner(_Scanner):
    """The same walk, building the pickle's object where it is only dicts, ``OrderedDict``, plain
    values, tensors and parameters (tensors become ``TensorMeta``). Anything else stays an inert
    stub and sets ``unsupported``: the walk goes on, so the checks still see every storage.

    The rebuild functions are closures, not bound methods: a bound method in the pickle's memo
    is a cycle back to the unpickler, which keeps every object of the walk alive until the next
    collection (and a fresh walk then allocates fresh memory, ~2x slower)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.result: Any = None
        reasons: list[str] = []
        self._reasons = reasons
        append_view, meta, stub = self.views.append, TensorMeta, _Stub

        def rebuild_tensor_v2(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> Any:
            # Once per tensor: no attribute lookups, no calls but TensorMeta's.
            if type(storage) is not _StorageRef:
                reasons.append("a tensor without storage")
                return stub()
            key, dtype = storage
            append_view((key, offset, size, stride))  # as _rebuild_tensor records it
            if dtype and isinstance(size, tuple):
                try:
                    return meta(dtype, tuple(map(int, size)))
                except (TypeError, ValueError):
                    pass
            reasons.append("a tensor")
            return stub()

        def rebuild_parameter(data: Any, *_: Any) -> Any:
            if type(data) is meta:
                return data
            reasons.append("a parameter")
            return stub()

        self._rebuild_tensor_v2 = rebuild_tensor_v2
        self._rebuild_parameter = rebuild_parameter

    @property
    def unsupported(self) -> str | None:
        """The first thing the walk met that the metadata does not model, if any."""
        return self._reasons[0] if self._reasons else None

    def _unsupported(self, what: str) -> None:
        self._reasons.append(what)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict  # a wrong use raises, and check_archive walks again, all stubs
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor_v2
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return self._rebuild_parameter
        if not (module == "torch" and name in _STORAGE_DTYPES):
            self._unsupported(f"{module}.{name}")
        return super().find_class(module, name)

    def _other_persistent_id(self) -> Any:
        self._unsupported("a persistent id")
        return _Stub()

    def load(self) -> Any:
        self.result = super().load()
        return self.result


def _scan(data: bytes) -> _Scanner:
    """One walk of the pickle: storages (key → itemsize, element count), tensor views (key,
    offset, size, stride) and, where it is plain, the metadata object (``_MetaScanner``).

    A pickle the metadata walk cannot build (an ``OrderedDict`` called with odd arguments...) is
    walked again with stubs only, exactly as the checks always did: the checks never depend on
    the metadata walk succeeding.
    """
    scanner: _Scanner = _MetaScanner(data)
    try:
        scanner.load()
    except ModelFileError:
        raise
    except Exception:  # noqa: BLE001 - rare: fall back to the all-stub walk, which explains
        scanner = _Scanner(data)
        scanner.load()
    return scanner
