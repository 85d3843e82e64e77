"""Atomic file writes: a reader (the app, `layerscope runs`, a script) never sees half a file.

Everything layerscope writes for others to read — reports, run metadata, exported models — goes
through a temporary file in the same folder and a rename.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path`` for any writer; rename it into place only on success.

    The temp name is hidden (folder scans skip it) and keeps the real suffix (tools that look at
    the extension still work). The writer creates the file itself, so it gets the user's umask.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
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
