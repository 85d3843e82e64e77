"""A small, strict reader of a zip archive's table of contents, for ``torch.save`` files.

Opening a big state dict only needs each member's name, compression method, sizes and local
header offset, and the bytes of ``data.pkl``. ``zipfile.ZipFile`` builds a ``ZipInfo`` per member
(dates, attributes, extra fields) through a ``BytesIO`` and costs ~0.75 ms for a 279-member
checkpoint in a fresh interpreter; this reader unpacks the one central-directory read in place
(~0.35 ms there, ~0.15 ms once warm).

It refuses everything ``zipfile`` refuses when listing an archive and reading a member (no end
record, multi-disk, truncated or bad-signature central directory, corrupt extra field, version
needed above 6.3, a name not valid UTF-8 under the UTF-8 flag, bad local header, names that
differ, encryption, bad CRC), each as one ``ModelFileError`` line, and a little more: a member
whose data would reach past the central directory, a NUL byte in a name. ``ZIP64`` end records
and extra fields are read as ``torch.save`` writes them for files over 4 GiB.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

from layerscope.engine.errors import ModelFileError

STORED, DEFLATED = 0, 8
_EOCD = struct.Struct("<4s4H2LH")  # signature, disks, entries, cd size, cd offset, comment len
_EOCD_SIG = b"PK\x05\x06"
_LOCATOR = struct.Struct("<4sLQL")  # zip64 locator: signature, disk, record offset, disks
_LOCATOR_SIG = b"PK\x06\x07"
_EOCD64 = struct.Struct("<4sQ2H2L2Q2Q")  # zip64 end record, without extensible data
_EOCD64_SIG = b"PK\x06\x06"
# A central-directory entry (46 bytes, as zipfile's structCentralDir), only the fields used:
# signature, version needed, flags, method, CRC, sizes, name/extra/comment lengths, offset.
_CENTRAL_USED = struct.Struct("<4s2xBxHH4xL2L3H8xL")
_CENTRAL_SIG = b"PK\x01\x02"
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # as zipfile's structFileHeader
_LOCAL_SIG = b"PK\x03\x04"
_MAX_COMMENT = 1 << 16
_MAX_EXTRACT_VERSION = 63  # zipfile's MAX_EXTRACT_VERSION
_FLAG_ENCRYPTED, _FLAG_PATCHED, _FLAG_STRONG, _FLAG_UTF8 = 0x1, 0x20, 0x40, 0x800
_U32 = 0xFFFF_FFFF
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_HAS_PREAD = hasattr(os, "pread")  # not on Windows


class ZipEntry(NamedTuple):
    """One member as the central directory gives it (offsets already shifted by any bytes
    prepended to the archive, as ``zipfile`` does)."""

    name: str
    method: int  # 0 stored, 8 deflated, ...
    compressed_size: int
    size: int
    header_offset: int
    crc: int
    flags: int


_new_tuple = tuple.__new__  # ZipEntry without the Python frame of its generated __new__


def _quote(name: str) -> str:
    """A member name for a one-line message: escaped, and cut (a name may be 64 KiB long)."""
    return repr(name[:80]) + ("..." if len(name) > 80 else "")


class MemberTooBig(Exception):
    """A member inflates to more than the caller's limit (it was not read whole)."""


class ZipIndex:
    """The members of a zip archive, read from its central directory; the file stays open (by
    descriptor) until ``close``, for reading a member through its local header."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, ZipEntry] = {}
        self._fd = -1
        try:
            self._fd = os.open(path, _OPEN_FLAGS)
            self._read_directory(os.lseek(self._fd, 0, os.SEEK_END))
        except ModelFileError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise self._corrupt(exc.strerror or type(exc).__name__) from None
        except BaseException:
            self.close()
            raise

    # -- the context-manager and file protocol --------------------------------------------------
    def close(self) -> None:
        """Close the file (again: a no-op)."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __enter__(self) -> ZipIndex:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def namelist(self) -> list[str]:
        return list(self.entries)

    def _corrupt(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.path}: corrupt or truncated zip archive ({what})")

    def _pread(self, size: int, offset: int) -> bytes:
        if self._fd < 0:
            raise ModelFileError(f"{self.path}: the archive was closed before it was read")
        try:
            if _HAS_PREAD:
                return os.pread(self._fd, size, offset)
            os.lseek(self._fd, offset, os.SEEK_SET)  # Windows: one reader per index, no race
            return os.read(self._fd, size)
        except OSError as exc:
            raise self._corrupt(exc.strerror or type(exc).__name__) from None

    # -- the central directory ------------------------------------------------------------------
    def _read_directory(self, file_size: int) -> None:
        # The end records first (the last 98 bytes, where there is no archive comment), then
        # the directory; the last 64 KiB are read only to find an end record before a comment.
        tail_len = min(file_size, _EOCD.size + _EOCD64.size + _LOCATOR.size)
        tail_start = file_size - tail_len
        tail = self._pread(tail_len, tail_start)
        if len(tail) != tail_len:
            raise self._corrupt("the file shrank while it was read")
        # The end record: last in the file, or before a comment of up to 64 KiB (as zipfile).
        if tail[-22:-18] == _EOCD_SIG and tail[-2:] == b"\0\0":
            end = tail_len - _EOCD.size
        else:
            tail_len = min(file_size, _MAX_COMMENT + _EOCD.size + _EOCD64.size + _LOCATOR.size)
            tail_start = file_size - tail_len
            tail = self._pread(tail_len, tail_start)
            if len(tail) != tail_len:
                raise self._corrupt("the file shrank while it was read")
            lo = max(tail_len - _MAX_COMMENT - _EOCD.size, 0)
            end = tail.rfind(_EOCD_SIG, lo)
            if end < 0 or end + _EOCD.size > tail_len:
                raise self._corrupt("File is not a zip file")
        _, _, _, _, _, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, end)
        end_pos = tail_start + end
        zip64 = False
        if end_pos >= _LOCATOR.size:
            locator = self._at(tail, tail_start, end_pos - _LOCATOR.size, _LOCATOR.size)
            sig, disk, _, disks = _LOCATOR.unpack(locator)
            if sig == _LOCATOR_SIG:
                if disk != 0 or disks > 1:
                    raise self._corrupt("zipfiles that span multiple disks are not supported")
                rec_pos = end_pos - _LOCATOR.size - _EOCD64.size
                if rec_pos < 0:
                    raise self._corrupt("File is not a zip file")
                fields = _EOCD64.unpack(self._at(tail, tail_start, rec_pos, _EOCD64.size))
                if fields[0] == _EOCD64_SIG:  # else the plain record stands, as in zipfile
                    zip64 = True
                    cd_size, cd_offset = fields[8], fields[9]
        # Bytes prepended to the archive shift every offset (zipfile's "concat").
        concat = end_pos - cd_size - cd_offset
        if zip64:
            concat -= _EOCD64.size + _LOCATOR.size
        start = cd_offset + concat
        if start < 0:
            raise self._corrupt("Bad offset for central directory")
        if start + cd_size > end_pos:
            raise self._corrupt("Truncated central directory")
        if start >= tail_start:  # a small directory is inside the tail already read
            cd = tail[start - tail_start : start - tail_start + cd_size]
        else:
            cd = self._pread(cd_size, start)
        if len(cd) != cd_size:
            raise self._corrupt("Truncated central directory")
        self._parse(cd, concat, start)

    def _at(self, tail: bytes, tail_start: int, pos: int, size: int) -> bytes:
        """``size`` bytes at file offset ``pos``: from the tail when it holds them."""
        if pos >= tail_start:
            return tail[pos - tail_start : pos - tail_start + size]
        data = self._pread(size, pos)
        if len(data) != size:
            raise self._corrupt("Truncated end of central directory")
        return data

    def _parse(self, cd: bytes, concat: int, start: int) -> None:
        """Every entry of the central directory ``cd``: one ``unpack_from`` of the fields used
        (a hot loop: the constants are locals, each check one expression)."""
        entries, new, entry, unpack = self.entries, _new_tuple, ZipEntry, _CENTRAL_USED.unpack_from
        signature, max_version, utf8 = _CENTRAL_SIG, _MAX_EXTRACT_VERSION, _FLAG_UTF8
        limit = start - _LOCAL.size  # a member's header and data must end before the directory
        n, pos = len(cd), 0
        try:
            while pos < n:
                (sig, version, flags, method, crc, csize, size, name_len, extra_len, comment_len,
                 offset) = unpack(cd, pos)  # fmt: skip
                if sig != signature or version > max_version:
                    raise self._corrupt(
                        "Bad magic number for central directory"
                        if sig != signature
                        else f"zip file version {version / 10:.1f}"
                    )
                name_at = pos + 46
                pos = name_at + name_len + extra_len + comment_len
                name = cd[name_at : name_at + name_len].decode("utf-8" if flags & utf8 else "cp437")
                if extra_len:
                    extra = cd[name_at + name_len : name_at + name_len + extra_len]
                    size, csize, offset = self._extra(name, extra, size, csize, offset)
                offset += concat
                if not 0 <= offset <= limit - name_len - csize:
                    raise self._corrupt(f"member {_quote(name)} lies past the central directory")
                entries[name] = new(entry, (name, method, csize, size, offset, crc, flags))
        except struct.error:  # fewer than 46 bytes left for an entry
            raise self._corrupt("Truncated central directory") from None
        except UnicodeDecodeError:  # its message would quote the file's bytes
            raise self._corrupt("a member name is not valid UTF-8") from None
        if pos > n:
            raise self._corrupt("Truncated central directory")
        if "\0" in "".join(entries):  # zipfile cuts a name there; another reader would not
            raise self._corrupt("a member name holds a NUL byte")

    def _decode(self, raw: bytes, flags: int) -> str:
        if flags & _FLAG_UTF8:
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:  # its message would quote the file's bytes
                raise self._corrupt("a member name is not valid UTF-8") from None
        else:
            name = raw.decode("cp437")
        if "\0" in name:  # zipfile cuts the name there; another reader would not
            raise self._corrupt("a member name holds a NUL byte")
        return name

    def _extra(
        self, name: str, extra: bytes, size: int, csize: int, offset: int
    ) -> tuple[int, int, int]:
        """Sizes and offset from a ZIP64 extra field (each only where the 32-bit one is full),
        every extra field's length checked, as ``zipfile`` does."""
        while len(extra) >= 4:
            kind, length = struct.unpack_from("<HH", extra)
            if length + 4 > len(extra):
                raise self._corrupt(f"Corrupt extra field {kind:04x} (size={length})")
            if kind == 0x0001:
                wide = [size == _U32, csize == _U32, offset == _U32]
                if 8 * sum(wide) > length:
                    raise self._corrupt(f"Corrupt zip64 extra field of {_quote(name)}")
                values = iter(struct.unpack_from(f"<{sum(wide)}Q", extra, 4))
                size = next(values) if wide[0] else size
                csize = next(values) if wide[1] else csize
                offset = next(values) if wide[2] else offset
            extra = extra[length + 4 :]
        return size, csize, offset

    # -- reading one member ---------------------------------------------------------------------
    def read(self, entry: ZipEntry, limit: int) -> bytes:
        """The bytes of a stored or deflated member, CRC-checked; ``MemberTooBig`` past ``limit``
        bytes (a deflated member is inflated at most that far). Other methods raise
        ``NotImplementedError``: the caller reads those with ``zipfile``."""
        if entry.method not in (STORED, DEFLATED):
            raise NotImplementedError(f"compression method {entry.method}")
        if entry.size > limit or (
            # A deflate stream of at most ``limit`` bytes is never much longer than that.
            entry.compressed_size > limit + (limit >> 4) + (1 << 16)
        ):
            raise MemberTooBig(entry.name)
        header = self._pread(_LOCAL.size, entry.header_offset)
        if len(header) != _LOCAL.size:
            raise self._corrupt("Truncated file header")
        (sig, _, _, flags, _, _, _, _, _, _, name_len, extra_len) = _LOCAL.unpack(header)
        if sig != _LOCAL_SIG:
            raise self._corrupt("Bad magic number for file header")
        if entry.flags & _FLAG_PATCHED:
            raise self._corrupt("compressed patched data (flag bit 5)")
        if entry.flags & (_FLAG_STRONG | _FLAG_ENCRYPTED):
            raise self._corrupt(f"{_quote(entry.name)} is encrypted")
        # One read for the local name, extra field and data.
        skip = name_len + extra_len
        rest = self._pread(skip + entry.compressed_size, entry.header_offset + _LOCAL.size)
        if len(rest) < name_len or self._decode(rest[:name_len], flags) != entry.name:
            raise self._corrupt(
                f"member name in directory and header differ ({_quote(entry.name)})"
            )
        if len(rest) != skip + entry.compressed_size:
            raise self._corrupt(f"{_quote(entry.name)} is truncated")
        if entry.method == STORED:
            if entry.compressed_size != entry.size:
                raise self._corrupt(f"{_quote(entry.name)}: stored with two different sizes")
            data = rest[skip:]
        else:
            inflate = zlib.decompressobj(-15)
            try:
                data = inflate.decompress(memoryview(rest)[skip:], limit + 1)
            except zlib.error:
                raise self._corrupt(f"{_quote(entry.name)}: invalid deflate data") from None
            if len(data) > limit:
                raise MemberTooBig(entry.name)
            if not inflate.eof or len(data) != entry.size:
                raise self._corrupt(
                    f"{_quote(entry.name)} inflates to other than its declared size"
                )
        if zlib.crc32(data) != entry.crc:
            raise self._corrupt(f"Bad CRC-32 for file {_quote(entry.name)}")
        return data
