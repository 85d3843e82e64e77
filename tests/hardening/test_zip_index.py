"""``zip_index.ZipIndex``, the strict central-directory reader a ``torch.save`` zip is opened with.

It must list what ``zipfile`` lists (ZIP64 included), refuse every archive ``zipfile`` refuses
when listing it and reading ``data.pkl`` (each as one ``ModelFileError`` line, never a traceback
or a hang), and read ``data.pkl`` stored or deflated with the size cap.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from hostile_torchzip import bomb_pickle, repack, saved, state_dict, with_pickle

from layerscope.engine.errors import ModelFileError
from layerscope.engine.loaders import load_model, zip_check
from layerscope.engine.loaders.sniff import sniff_open
from layerscope.engine.loaders.zip_index import ZipIndex


def _listing(path: Path) -> list[tuple]:
    with ZipIndex(path) as index:
        return [(e.name, e.method, e.compressed_size, e.size, e.header_offset, e.crc)
                for e in index.entries.values()]  # fmt: skip


def _zipfile_listing(path: Path) -> list[tuple]:
    with zipfile.ZipFile(path) as zf:
        return [(i.filename, i.compress_type, i.compress_size, i.file_size, i.header_offset, i.CRC)
                for i in zf.infolist()]  # fmt: skip


def _one_line(exc: ModelFileError) -> str:
    text = str(exc)
    assert "\n" not in text and text.strip() == text and "Traceback" not in text
    return text


def _refusal(path: Path) -> str | None:
    """The one-line refusal of opening ``path`` as a torch zip (sniff, list, read data.pkl,
    check the members), or None when it opens. Any other exception fails the test."""
    try:
        fmt, index = sniff_open(path)
        if fmt == "torch-zip":
            zip_check.check_archive(path, index)
        elif index is not None:
            index.close()
    except ModelFileError as exc:
        return _one_line(exc)
    return None


def _zipfile_refuses(path: Path) -> bool:
    """Whether ``zipfile`` refuses to list ``path`` or read its data.pkl."""
    try:
        with zipfile.ZipFile(path) as zf:
            name = next(n for n in zf.namelist() if n.endswith("data.pkl"))
            zf.read(name)
    except Exception:  # noqa: BLE001 - any refusal counts
        return True
    return False


# --- the same listing as zipfile ----------------------------------------------------------------


def _zip64(src: Path, dst: Path, prefix: bytes = b"", wide: str = "size csize offset") -> Path:
    """``src`` rewritten with the ``wide`` fields (sizes, offset) of every member in ZIP64 extra
    fields (their 32-bit fields 0xFFFFFFFF) and ZIP64 end records, as a writer does for archives
    over 4 GiB; data 64-byte aligned as torch.save writes it. ``prefix``: bytes before the
    archive (a self-extractor)."""
    out = io.BytesIO()
    out.write(prefix)
    central = []
    with zipfile.ZipFile(src) as zf:
        for info in zf.infolist():
            data, name = zf.read(info), info.filename.encode()
            offset = out.tell() - len(prefix)
            crc = zlib.crc32(data)
            extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
            pad = -(out.tell() + 30 + len(name) + len(extra) + 4) % 64
            extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad
            out.write(struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 45, 0, 0x800, 0, 0, 0x21, crc,
                                  0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra)))  # fmt: skip
            out.write(name + extra + data)
            fields = [("size", len(data)), ("csize", len(data)), ("offset", offset)]
            values = [v for f, v in fields if f in wide]  # the extra's order: size, csize, offset
            cextra = struct.pack(f"<HH{len(values)}Q", 1, 8 * len(values), *values)
            u32 = {f: 0xFFFFFFFF if f in wide else v for f, v in fields}
            central.append(struct.pack("<4s4B4H3L5H2L", b"PK\x01\x02", 45, 3, 45, 0, 0x800, 0, 0,
                                       0x21, crc, u32["csize"], u32["size"], len(name),
                                       len(cextra), 0, 0, 0, 0, u32["offset"]) + name + cextra)  # fmt: skip
    cd_offset = out.tell() - len(prefix)
    cd = b"".join(central)
    out.write(cd)
    rec64 = out.tell() - len(prefix)
    n = len(central)
    out.write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, len(cd), cd_offset))
    out.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, rec64, 1))
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                          0xFFFFFFFF, 0))  # fmt: skip
    dst.write_bytes(out.getvalue())
    return dst


def test_listing_matches_zipfile_on_torch_and_repacked_archives(tmp_path: Path) -> None:
    plain = saved(tmp_path / "plain.pt")
    deflated = repack(plain, tmp_path / "deflated.pt", deflate="data.pkl")
    with zipfile.ZipFile(tmp_path / "comment.pt", "w") as zo, zipfile.ZipFile(plain) as zi:
        for info in zi.infolist():
            zo.writestr(info, zi.read(info))
        zo.comment = b"a comment after the end record " * 40
    prepended = tmp_path / "prepended.pt"
    prepended.write_bytes(b"#!/bin/sh\nexit 0\n" + plain.read_bytes())
    for path in (plain, deflated, tmp_path / "comment.pt", prepended):
        assert _listing(path) == _zipfile_listing(path), path.name
    with ZipIndex(plain) as index:
        assert any(n.endswith("/data.pkl") for n in index.namelist())


def test_zip64_archive_lists_and_opens_like_zipfile(tmp_path: Path) -> None:
    src = saved(tmp_path / "plain.pt")
    path = _zip64(src, tmp_path / "z64.pt")
    prepended = _zip64(src, tmp_path / "z64p.pt", b"MZ" * 9)  # offsets shift, as zipfile does
    offset_only = _zip64(src, tmp_path / "z64o.pt", wide="offset")  # sizes fit in 32 bits
    for p in (path, prepended, offset_only):
        listing = _listing(p)
        assert listing == _zipfile_listing(p)
        assert all(size > 0 for _, _, _, size, _, _ in listing)
    model = load_model(path)
    for name, t in state_dict().items():
        assert model.tensor(name).shape == tuple(t.shape)
    torch.testing.assert_close(model.tensor("fc.bias").load(), state_dict()["fc.bias"])


def test_deflated_and_bzip2_data_pkl_read_the_same_metadata(tmp_path: Path) -> None:
    plain = saved(tmp_path / "plain.pt")
    want = zip_check.check_archive(plain)
    deflated = repack(plain, tmp_path / "deflated.pt", deflate="data.pkl")
    bz = tmp_path / "bzip2.pt"
    with zipfile.ZipFile(plain) as zi, zipfile.ZipFile(bz, "w") as zo:
        for info in zi.infolist():  # bzip2: read through zipfile, the only one kept for that
            method = zipfile.ZIP_BZIP2 if info.filename.endswith("data.pkl") else 0
            zo.writestr(info.filename, zi.read(info), compress_type=method)
    for path in (deflated, bz):
        check = zip_check.check_archive(path)
        assert check.pickle == want.pickle and check.mmap_ok and check.has_metadata
        assert list(check.metadata) == list(want.metadata)


# --- refused as zipfile refuses ---------------------------------------------------------------


def test_every_truncation_is_one_line(tmp_path: Path) -> None:
    raw = saved(tmp_path / "plain.pt").read_bytes()
    bad = tmp_path / "cut.pt"
    for cut in range(len(raw) - 1, 3, -1):  # every proper prefix that still starts "PK\3\4"
        bad.write_bytes(raw[:cut])
        assert _refusal(bad) is not None, cut


def test_every_flipped_byte_of_the_directory_zipfile_refuses_is_refused(tmp_path: Path) -> None:
    # Each byte of the central directory and end records, and of data.pkl's local header, in
    # turn: wherever zipfile refuses to list the archive or read data.pkl, so does ZipIndex.
    for src in (saved(tmp_path / "plain.pt"), _zip64(saved(tmp_path / "p.pt"), tmp_path / "64.pt")):
        raw = src.read_bytes()
        with zipfile.ZipFile(src) as zf:
            pkl = next(i for i in zf.infolist() if i.filename.endswith("data.pkl"))
            cd_start = zf.start_dir
        positions = [*range(cd_start, len(raw)), *range(pkl.header_offset, pkl.header_offset + 60)]
        bad = tmp_path / "flip.pt"
        refused = 0
        for pos in positions:
            flipped = bytearray(raw)
            flipped[pos] ^= 0xFF
            bad.write_bytes(bytes(flipped))
            line = _refusal(bad)
            if _zipfile_refuses(bad):
                assert line is not None, (src.name, pos)
            refused += line is not None
        assert refused > len(positions) // 2  # most of a directory's bytes matter


def test_member_offset_past_the_end_is_refused(tmp_path: Path) -> None:
    raw = bytearray(saved(tmp_path / "plain.pt").read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
        entry = zf.start_dir
        for info in zf.infolist():
            if info.filename.endswith("data/0"):
                break
            entry += 46 + len(info.filename.encode()) + len(info.extra) + len(info.comment)
    assert raw[entry : entry + 4] == b"PK\x01\x02"
    raw[entry + 42 : entry + 46] = struct.pack("<L", len(raw) + 1000)  # local header offset
    bad = tmp_path / "offset.pt"
    bad.write_bytes(bytes(raw))
    line = _refusal(bad)
    assert line is not None and "data/0" in line and "past the central directory" in line
    with pytest.raises(ModelFileError, match="past the central directory"):
        load_model(bad)


def _patch_pkl_entry(raw: bytes, field_at: int, fmt: str, value: int) -> bytes:
    """``raw`` with a field of data.pkl's central-directory entry set to ``value``."""
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        pos = zf.start_dir  # data.pkl is the first member torch.save writes
        assert zf.infolist()[0].filename.endswith("data.pkl")
    out = bytearray(raw)
    struct.pack_into(fmt, out, pos + field_at, value)
    return bytes(out)


def test_huge_declared_data_pkl_is_refused_unread(tmp_path: Path) -> None:
    raw = saved(tmp_path / "plain.pt").read_bytes()
    bad = tmp_path / "huge.pt"
    bad.write_bytes(_patch_pkl_entry(raw, 24, "<L", 0xFFFFFFF0))  # uncompressed size
    line = _refusal(bad)
    assert line is not None and "data.pkl inflates to 4096 MiB" in line and "limit" in line


def test_deflate_bomb_under_a_small_declared_size_stops_at_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zip_check, "MAX_PICKLE_BYTES", 1 << 20)
    bomb = with_pickle(tmp_path / "bomb.pt", bomb_pickle(4 << 20))  # deflated: > 1 MiB
    bad = tmp_path / "liar.pt"
    bad.write_bytes(_patch_pkl_entry(bomb.read_bytes(), 24, "<L", 1000))  # "1000 bytes"
    line = _refusal(bad)
    assert line is not None and "over the 1 MiB limit" in line


def test_corrupt_deflate_stream_and_bad_crc_are_one_line(tmp_path: Path) -> None:
    deflated = repack(saved(tmp_path / "p.pt"), tmp_path / "d.pt", deflate="data.pkl")
    raw = bytearray(deflated.read_bytes())
    with zipfile.ZipFile(deflated) as zf:
        pkl = zf.infolist()[0]
    data_at = pkl.header_offset + 30 + len(pkl.filename) + len(pkl.extra)
    for pos, what in ((data_at, "deflate"), (data_at + pkl.compress_size // 2, "")):
        bad = bytearray(raw)
        bad[pos] ^= 0x55
        (tmp_path / "bad.pt").write_bytes(bytes(bad))
        line = _refusal(tmp_path / "bad.pt")
        assert line is not None and what in line


def test_non_utf8_name_and_nul_in_name_are_one_line(tmp_path: Path) -> None:
    src = saved(tmp_path / "plain.pt")
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(tmp_path / "n.pt", "w") as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info))
        zo.writestr("plain/extra\u00fc", b"x")  # UTF-8 flag set
    raw = (tmp_path / "n.pt").read_bytes()
    (tmp_path / "utf.pt").write_bytes(raw.replace("\u00fc".encode(), b"\xff\xfe"))
    (tmp_path / "nul.pt").write_bytes(raw.replace("\u00fc".encode(), b"\x00!"))
    line = _refusal(tmp_path / "utf.pt")
    assert line is not None and "not valid UTF-8" in line and "\\xff" not in line
    line = _refusal(tmp_path / "nul.pt")
    assert line is not None and "NUL" in line


def test_closed_index_and_second_close(tmp_path: Path) -> None:
    index = ZipIndex(saved(tmp_path / "plain.pt"))
    entry = next(e for n, e in index.entries.items() if n.endswith("data.pkl"))
    index.close()
    index.close()  # a no-op
    with pytest.raises(ModelFileError, match="closed"):
        index.read(entry, 1 << 20)


# --- the walk of data.pkl ------------------------------------------------------------------------


def test_metadata_walk_leaves_no_cycle_behind(tmp_path: Path) -> None:
    # The rebuild functions sit in the pickle's memo: as bound methods they made a cycle back
    # to the unpickler, keeping every object of the walk alive until a collection.
    import gc
    import weakref

    check = zip_check.check_archive(saved(tmp_path / "plain.pt"))
    gc.disable()
    try:
        scanner = zip_check._MetaScanner(check.pickle)
        scanner.load()
        assert scanner.unsupported is None and list(scanner.result) == list(state_dict())
        alive = weakref.ref(scanner)
        del scanner
        assert alive() is None  # freed by reference counting alone
    finally:
        gc.enable()


def test_without_pread_the_index_reads_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from layerscope.engine.loaders import zip_index

    path = saved(tmp_path / "plain.pt")

    def listing_and_pickle() -> tuple[list[tuple], bytes]:
        with ZipIndex(path) as index:
            pkl = next(e for n, e in index.entries.items() if n.endswith("data.pkl"))
            return list(index.entries.values()), index.read(pkl, 1 << 20)

    with_pread = listing_and_pickle()
    monkeypatch.setattr(zip_index, "_HAS_PREAD", False)  # as on Windows: lseek + read
    monkeypatch.setattr(zip_index.os, "pread", None)
    assert listing_and_pickle() == with_pread
