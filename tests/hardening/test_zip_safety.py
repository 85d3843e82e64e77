"""Hostile ``torch.save`` zips: compressed or short members, corrupt archives, pickle bombs.

Every case either shows the right numbers or stops with one ``layerscope: ...`` line (exit 2).
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from hostile_torchzip import (
    bomb_pickle,
    dag_pickle,
    expanded_tensor_pickle,
    repack,
    saved,
    self_ref_pickle,
    state_dict,
    with_pickle,
)

from layerscope.engine.cli import main


def _inspect_json(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    rc = main(["inspect", str(path), "--json", *extra])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def _refused(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    rc = main(["inspect", str(path), *extra])
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("layerscope: "), err
    assert "Traceback" not in err
    return lines[0]


def _stats_of(doc: dict, name: str) -> dict:
    for layer in doc["layers"]:
        for t in layer["tensors"]:
            if t["name"] == name:
                return t["stats"]
    raise AssertionError(f"{name} not in the tree")


# --- members that cannot be memory-mapped ------------------------------------------------------


@pytest.mark.parametrize("member", ["data/0", "data/1"])
def test_deflated_member_shows_the_real_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], member: str
) -> None:
    src = saved(tmp_path / "plain.pt")
    packed = repack(src, tmp_path / "deflated.pt", deflate=member)
    with zipfile.ZipFile(packed) as zf:  # the fixture really is compressed
        assert any(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    doc = _inspect_json(packed, capsys)
    for name, t in state_dict().items():
        st = _stats_of(doc, name)
        assert st["min"] == pytest.approx(t.min().item(), abs=0)
        assert st["max"] == pytest.approx(t.max().item(), abs=0)
        assert st["mean"] == pytest.approx(t.double().mean().item(), rel=1e-12)


def test_member_shorter_than_its_tensor_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = saved(tmp_path / "plain.pt")
    short = repack(src, tmp_path / "short.pt", shorten="data/0", cut=64)  # data/1 follows it
    line = _refused(short, capsys)
    assert "data/0" in line and "short" in line


def test_short_member_is_refused_on_the_torch_load_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = saved(tmp_path / "plain.pt")
    short = repack(src, tmp_path / "short.pt", shorten="data/0", cut=64)
    line = _refused(short, capsys, "--arch", "nosuch_arch_for_this_test")
    assert "data/0" in line and "short" in line


# --- corrupt archives --------------------------------------------------------------------------


def _central_entries(data: bytes) -> list[int]:
    out, pos = [], data.find(b"PK\x01\x02")
    while pos != -1:
        out.append(pos)
        pos = data.find(b"PK\x01\x02", pos + 4)
    return out


def test_undecodable_member_name_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = saved(tmp_path / "plain.pt")
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(tmp_path / "n.pt", "w") as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info))
        zo.writestr("plain/extra\u00fc", b"x")  # non-ASCII: stored as UTF-8 with flag 0x800
    raw = (tmp_path / "n.pt").read_bytes().replace("\u00fc".encode(), b"\xff\xfe")
    bad = tmp_path / "badname.pt"
    bad.write_bytes(raw)
    line = _refused(bad, capsys)
    assert "\\xff" not in line and "\xff" not in line


def test_unsupported_zip_version_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = bytearray(saved(tmp_path / "plain.pt").read_bytes())
    for pos in _central_entries(bytes(raw)):
        raw[pos + 6 : pos + 8] = struct.pack("<H", 82)  # "version needed to extract": 8.2
    bad = tmp_path / "v82.pt"
    bad.write_bytes(bytes(raw))
    _refused(bad, capsys)


def test_bad_crc_of_the_pickle_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = saved(tmp_path / "plain.pt").read_bytes()
    bad = tmp_path / "crc.pt"
    bad.write_bytes(raw.replace(b"fc.weight", b"fc.weighT", 1))  # still a valid pickle
    _refused(bad, capsys)


@pytest.mark.parametrize("keep", [0.97, 0.9])
def test_truncated_central_directory_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keep: float
) -> None:
    raw = saved(tmp_path / "plain.pt").read_bytes()
    cd = _central_entries(raw)[0]
    eocd = raw.rfind(b"PK\x05\x06")
    cut = cd + int((eocd - cd) * keep)  # drop part of the central directory, keep its end record
    bad = tmp_path / "cd.pt"
    bad.write_bytes(raw[:cut] + raw[eocd:])
    _refused(bad, capsys)


# --- bounded work ------------------------------------------------------------------------------


def test_pickle_bigger_than_the_cap_is_refused_naming_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from layerscope.engine.loaders import zip_check

    monkeypatch.setattr(zip_check, "MAX_PICKLE_BYTES", 1 << 20)
    bomb = with_pickle(tmp_path / "bomb.pt", bomb_pickle(4 << 20))
    assert bomb.stat().st_size < 64 << 10  # small on disk, 4 MB inflated
    line = _refused(bomb, capsys)
    assert "data.pkl" in line and "1 MiB" in line


def test_shared_dict_dag_is_walked_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 2**18 paths lead to the one tensor: naive flattening makes 262,144 tree entries.
    dag = with_pickle(tmp_path / "dag.pt", dag_pickle(18), {"0": struct.pack("<4f", 1, 2, 3, 4)})
    doc = _inspect_json(dag, capsys)
    assert doc["model"]["tensors"] <= 18 + 1
    names = [t["name"] for layer in doc["layers"] for t in layer["tensors"]]
    assert names and all(n.endswith("w") for n in names)


def test_self_referencing_pickle_is_no_recursion_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = with_pickle(tmp_path / "self.pt", self_ref_pickle(), {"0": struct.pack("<4f", 1, 2, 3, 4)})
    doc = _inspect_json(p, capsys)
    st = _stats_of(doc, "w")
    assert (st["min"], st["max"], st["numel"]) == (1.0, 4.0, 4)


def test_expanded_tensor_claiming_1e12_elements_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = with_pickle(tmp_path / "exp.pt", expanded_tensor_pickle(10**12), {"0": b"\0\0\x80?"})
    line = _refused(p, capsys)
    assert "elements" in line


def test_storage_too_small_for_its_tensor_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A 1-element storage, but the tensor claims 1000 contiguous elements of it.
    payload = expanded_tensor_pickle(1000).replace(
        b"J\x00\x00\x00\x00t\x89", b"J\x01\x00\x00\x00t\x89"
    )
    p = with_pickle(tmp_path / "small.pt", payload, {"0": b"\0\0\x80?"})
    _refused(p, capsys)


def test_tensors_of_a_normal_checkpoint_still_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.save({"model": state_dict(), "epoch": 3}, tmp_path / "ck.pt")
    doc = _inspect_json(tmp_path / "ck.pt", capsys)
    assert _stats_of(doc, "fc.bias")["numel"] == 256
