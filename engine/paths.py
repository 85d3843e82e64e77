"""The one owner of the path rules for files a model refers to, and of "is this a regular file".

A model's references (sharded safetensors index entries and shards, ONNX external data) must stay
inside the model's folder once resolved, symbolic links included: a hostile file must not make
layerscope read, or echo, a file elsewhere. And only regular files are opened: a FIFO blocks
``open`` forever, a device never ends. Both checks use ``stat``/``resolve`` only, never ``open``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from layerscope.engine.errors import LayerscopeError, ModelFileError, UnsafePathError

MAX_NAME_CHARS = 80  # names read from a file are quoted and cut to this in messages


def quote(name: object, limit: int = MAX_NAME_CHARS) -> str:
    """``repr`` of a name taken from a file, cut to ``limit`` characters: one line, bounded."""
    text = repr(name)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def special_kind(mode: int) -> str | None:
    """What a non-regular file is (``"a FIFO (named pipe)"``...), or ``None`` for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def require_regular_file(
    path: Path, what: str = "a model", error: type[LayerscopeError] = ModelFileError
) -> os.stat_result:
    """``path``'s ``stat`` (links followed) if it is a regular file; else ``error``, one line.

    ``what`` says what the file was to be opened as (``"a model"``, ``"an input"``...).
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:  # ValueError: an embedded NUL byte
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise error(f"{path}: cannot read ({reason})") from None
    kind = special_kind(st.st_mode)
    if kind is not None:
        raise error(f"{path}: {kind}, not a regular file; refusing to open it as {what}")
    return st


def resolve_inside(folder: Path, relative: str, what: str) -> Path:
    """``folder / relative`` resolved (links followed), refused unless it stays inside ``folder``.

    ``relative`` comes from a model file (an index entry, an external-data location), so it is
    quoted and cut in the message. ``what`` names the reference, e.g. ``"the index's shard"``.
    """
    try:
        base = folder.resolve()
        target = (base / relative).resolve() if relative else base
    except ValueError:  # an embedded NUL byte
        raise ModelFileError(f"{folder}: {what} {quote(relative)} is not a valid path") from None
    except (OSError, RuntimeError):  # a symbolic-link loop
        raise ModelFileError(f"{folder}: {what} {quote(relative)} cannot be resolved") from None
    if (
        Path(relative).is_absolute()
        or target == base
        or not (target.is_relative_to(base) or _hub_cache_blob(base, relative, target))
    ):
        raise UnsafePathError(
            f"{folder}: {what} {quote(relative)}, which resolves outside the model's folder "
            "(paths and symbolic links must stay inside it); refusing to read it"
        )
    return target


def _hub_cache_blob(base: Path, relative: str, target: Path) -> bool:
    """The Hugging Face cache layout: ``<repo>/snapshots/<rev>/<file>`` is a link to
    ``<repo>/blobs/<hash>``. Allowed only for a name that stays inside the snapshot as written
    (no ``..``) and a link into that same repository's ``blobs`` folder."""
    if base.parent.name != "snapshots" or ".." in Path(relative).parts:
        return False
    return target.is_relative_to(base.parent.parent / "blobs")
