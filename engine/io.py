"""Atomic file writes: a reader (the app, `layerscope runs`, a script) never sees half a file.

Everything layerscope writes for others to read — reports, run metadata, exported models — goes
through a temporary file in the same folder and a rename. JSON from a user's file is read through
``load_json``: size-capped, and any failure is one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.errors import LayerscopeError, ModelFileError


def temp_path_for(path: Path) -> Path:
    """A hidden, unique temp name beside ``path`` that keeps its suffix: ``.name.<pid>-<hex>.tmp.json``.

    The pid in the name lets a later write tell a temp file left by a killed writer from one that
    is being written right now (see :func:`remove_stale_temps`).
    """
    return path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path`` for any writer; rename it into place only on success.

    The temp name is hidden (folder scans skip it) and keeps the real suffix (tools that look at
    the extension still work). The writer creates the file itself, so it gets the user's umask.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text, atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any, indent: int = 2) -> None:
    """JSON (NaN refused: JSON has none), atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    """Tensors and NumPy scalars become plain numbers; paths become strings."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def load_json(
    source: Path | bytes,
    what: str,
    max_bytes: int,
    error: type[LayerscopeError] = ModelFileError,
) -> Any:
    """Parse JSON from a user's file (or bytes already read from one), or raise ``error``.

    Every failure is one line naming ``what``: too large (checked before reading), unreadable,
    not UTF-8, not JSON, or nested too deeply for Python's parser (a ``RecursionError`` otherwise).
    The file's own bytes are never echoed.
    """
    if isinstance(source, Path):
        try:
            st = source.stat()
            if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
                raise error(f"{what} is not a regular file")
            size = st.st_size
            if size > max_bytes:
                raise error(f"{what} is larger than {_size(max_bytes)} ({_size(size)}); not read")
            with source.open("rb") as fh:
                raw = fh.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"{what}: cannot read ({exc.strerror or type(exc).__name__})") from None
    else:
        raw = source
    if len(raw) > max_bytes:
        raise error(f"{what} is larger than {_size(max_bytes)}; not read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise error(f"{what} is nested too deeply to be valid JSON") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:  # e.g. an integer with too many digits
        raise error(f"{what} is not JSON ({str(exc).splitlines()[0][:80]})") from None


def _size(n: int) -> str:
    return f"{n / 1024**2:.0f} MB" if n >= 1024**2 else f"{n} bytes"
