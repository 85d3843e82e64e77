"""One listing of a model folder, shared by sniffing, the cache key and the sharded loader.

Opening a sharded folder asks the same questions many times: which names are there, is this one
a regular file inside the folder, how big is it. Each used to cost a ``listdir``, a ``realpath``
(one ``lstat`` per path component) and a ``stat``; here the folder is listed once with
``os.scandir`` and each entry is ``stat``-ed at most once. The path rules stay those of
:mod:`layerscope.engine.paths`: an entry that is a symbolic link (or a name the listing does not
hold) takes the full ``resolve_inside`` + ``require_regular_file`` route, so a link out of the
folder is refused exactly as before.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from layerscope.engine.paths import require_regular_file, resolve_inside


class FolderScan:
    """The entries of ``folder`` (none when it cannot be listed), ``stat``-ed on demand."""

    __slots__ = ("folder", "entries")

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            with os.scandir(folder) as it:
                self.entries: dict[str, os.DirEntry[str]] = {e.name: e for e in it}
        except OSError:
            self.entries = {}

    def names(self) -> list[str]:
        return list(self.entries)

    def is_file(self, name: str) -> bool:
        """``(folder / name).is_file()``: links followed, no ``stat`` for a plain entry."""
        entry = self.entries.get(name)
        try:
            return entry is not None and entry.is_file()
        except OSError:
            return False

    def plain(self, name: str) -> bool:
        """``name`` is an entry of the folder itself, not a symbolic link: inside it as named."""
        entry = self.entries.get(name)
        return entry is not None and not entry.is_symlink()

    def regular_file(self, name: str, what: str, kind: str) -> tuple[Path, os.stat_result]:
        """``folder / name`` and its ``stat``, refused as ``resolve_inside(folder, name, what)``
        and ``require_regular_file(path, kind)`` refuse it (outside the folder, missing, a FIFO,
        a folder...).

        A name the listing holds, that is not a symbolic link, is inside the folder by
        construction: only its ``stat`` is needed (and kept). Anything else goes the full way.
        """
        if self.plain(name):
            try:
                st = self.entries[name].stat()
            except OSError:
                st = None
            if st is not None and stat.S_ISREG(st.st_mode):
                return self.folder / name, st
        target = resolve_inside(self.folder, name, what)
        return target, require_regular_file(target, kind)

    def fingerprint(self) -> tuple[int, int]:
        """Total size and newest modification time of the folder's files (links followed)."""
        size = mtime = 0
        for entry in self.entries.values():
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except OSError:
                continue
            size, mtime = size + st.st_size, max(mtime, st.st_mtime_ns)
        return size, mtime
