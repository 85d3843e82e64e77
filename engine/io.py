"""Atomic file writes: a reader (the app, `layerscope runs`, a script) never sees half a file.

Everything layerscope writes for others to read — reports, run metadata, exported models — goes
through a temporary file in the same folder and a rename. JSON from a user's file is read through
``load_json``: size-capped, and any failure is one line.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from layerscope.engine.errors import LayerscopeError, ModelFileError, OverwriteRefusedError

SCHEMA_PREFIX = "layerscope."  # every JSON file layerscope writes for people says what it is
# temp_path_for's names: ".<stem>.<pid>-<8 hex>.tmp<suffix>"
_TEMP_NAME = re.compile(r"^\..*\.(\d+)-[0-9a-f]{8}\.tmp(\.[^.]*)?$")
STALE_TEMP_S = 30 * 60  # a temp file this old is left over, whatever its pid says


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
    remove_stale_temps(path.parent)
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
    """JSON (non-finite numbers as strings, see ``dumps``), atomically."""
    atomic_write_text(path, dumps(obj, indent=indent) + "\n")


# JSON has no Inf/NaN. Everything layerscope writes as JSON goes through ``dumps``: a non-finite
# float becomes the string "inf", "-inf" or "nan" (docs/report-schema.md), which every JSON
# parser accepts and ``finite_or_str`` reads back.
NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (also in lists, tuples, dicts) replaced by its string."""
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, str | bytes):
        return json_safe(obj.tolist())  # NumPy scalars/arrays, tensors
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes Inf/NaN literals (``allow_nan=False`` backs that up)."""
    kwargs.setdefault("default", _jsonable)
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def finite_or_str(value: Any) -> Any:
    """Read back what ``dumps`` wrote: "inf"/"-inf"/"nan" → float; anything else unchanged."""
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    return value


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete our own temp files in ``folder`` that a killed writer left behind; returns them.

    Only names made by :func:`temp_path_for`, only regular files of this user, and only when the
    pid in the name is not running or the file is older than ``STALE_TEMP_S`` (a pid can be
    reused). A write in progress (its process alive, its file fresh) is left alone.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if m is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
                continue
            if _pid_running(int(m.group(1))) and now - st.st_mtime < STALE_TEMP_S:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to remove
    return removed


def _pid_running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except OverflowError:
        return False  # no such pid
    return True


def is_layerscope_file(path: Path) -> bool:
    """Whether ``path`` holds a JSON file layerscope wrote: ``"schema": "layerscope.…"`` plus an
    integer ``schema_version`` (docs/report-schema.md). Decided by content, never by name."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            return False
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    # Our writers put the marker first: decide big reports from their first bytes.
    if re.match(rb'\s*\{\s*"schema"\s*:\s*"layerscope\.[A-Za-z0-9_.-]+"', head):
        return True
    if not head.lstrip().startswith(b"{"):
        return False
    try:  # keys reordered by another tool: read the whole (bounded) file
        d = load_json(path, str(path), max_bytes=256 * 1024**2)
    except LayerscopeError:
        return False
    return (
        isinstance(d, dict)
        and isinstance(d.get("schema"), str)
        and d["schema"].startswith(SCHEMA_PREFIX)
        and isinstance(d.get("schema_version"), int)
    )


OUTPUT_FOLDER = "layerscope"  # beside a model: what the app saves about it


def output_folder(model_path: str | os.PathLike[str]) -> Path:
    """Where the app saves what it makes of a model (statistics exports, activation reports,
    comparisons): ``layerscope/`` beside the model - inside the run's folder for a run's model -
    rather than wherever the app happened to be started. Not created here."""
    return Path(model_path).parent / OUTPUT_FOLDER


def make_output_folder(target: Path) -> None:
    """Create ``target``'s folder when it is the app's own output folder (other folders the user
    named must already exist: a typo there should fail, not grow a tree)."""
    if target.parent.name == OUTPUT_FOLDER:
        target.parent.mkdir(parents=True, exist_ok=True)


def check_user_target(
    path: Path,
    *,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str] | None] = (),
    force_hint: str | None = "pass --force to overwrite it",
) -> None:
    """Refuse (one line) to write a user-named ``path`` that would destroy something.

    Never a file in ``protect`` (the model being read, under any spelling, or a file inside a
    model folder), even with ``force``; without ``force``, never an existing file that is not a
    layerscope file. A new name, or a layerscope file (a re-run), is fine.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_dir():
        raise OverwriteRefusedError(f"{path} is a folder; give a file name for the report")
    for p in protect:
        if p is None:
            continue
        if _same_or_inside(path, Path(p)):
            raise OverwriteRefusedError(
                f"refusing to write over {path}: it is the model being read ({Path(p).name}); "
                "choose another name"
            )
    if not force and not is_layerscope_file(path):
        hint = f"; {force_hint}" if force_hint else ""
        raise OverwriteRefusedError(
            f"refusing to overwrite {path}: it exists and is not a layerscope file "
            f"(choose another name{hint})"
        )


def _same_or_inside(path: Path, protected: Path) -> bool:
    """``path`` is ``protected`` (samefile or the same resolved path), or lies in it (a folder)."""
    try:
        if os.path.samefile(path, protected):
            return True
    except OSError:
        pass
    try:
        target, prot = path.resolve(), protected.resolve()
    except (OSError, RuntimeError):
        return False
    return target == prot or (protected.is_dir() and prot in target.parents)


def write_user_text(
    path: Path,
    text: str,
    *,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str] | None] = (),
    force_hint: str | None = "pass --force to overwrite it",
) -> None:
    """:func:`atomic_write_text` to a path the user named, after :func:`check_user_target`."""
    check_user_target(path, force=force, protect=protect, force_hint=force_hint)
    atomic_write_text(path, text)


def write_user_json(
    path: Path,
    obj: dict[str, Any],
    *,
    schema: str,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str] | None] = (),
    force_hint: str | None = None,
    indent: int = 2,
) -> None:
    """A JSON export to a path the user named (the app's exports): stamped with ``schema`` (and
    ``schema_version`` 1) first, so a later export knows the file for its own and may replace it."""
    if not schema.startswith(SCHEMA_PREFIX):
        raise ValueError(f"schema must start with {SCHEMA_PREFIX!r}, got {schema!r}")
    # An integer "schema" (quant-compare's version number) becomes schema_version.
    version = obj.get(
        "schema_version", obj.get("schema") if isinstance(obj.get("schema"), int) else 1
    )
    rest = {k: v for k, v in obj.items() if k not in ("schema", "schema_version")}
    stamped = {"schema": schema, "schema_version": version, **rest}
    text = dumps(stamped, indent=indent) + "\n"
    write_user_text(path, text, force=force, protect=protect, force_hint=force_hint)


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
            with source.open("rb") as fh:  # the size it has, not the cap: no 100 MB buffer
                raw = fh.read(min(size, max_bytes) + 1)
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
