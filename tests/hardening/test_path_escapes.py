"""A model's references stay inside its folder: sharded-safetensors index entries and shards, and
ONNX external data, through one rule (``layerscope.engine.paths``). Nothing outside is read, and no
byte of a foreign file reaches an error message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hostile_fs import make_safetensors, write_index

from layerscope.engine.cli import main
from layerscope.engine.errors import ModelFileError, UnsafePathError
from layerscope.engine.loaders import load_model
from layerscope.engine.paths import require_regular_file, resolve_inside

SECRET = b"SECRETXY" * 4  # a foreign file's first bytes; must never show up in a message


def foreign_file(tmp_path: Path) -> Path:
    path = tmp_path / "foreign.txt"
    path.write_bytes(SECRET + b"\n" * 64)
    return path


def assert_no_secret(message: str) -> None:
    assert "SECRET" not in message
    # the first 8 bytes read as a safetensors header length: the leak seen before the fix
    assert str(int.from_bytes(SECRET[:8], "little")) not in message


@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlink"])
def test_index_entry_leaving_the_folder_is_refused(tmp_path: Path, where: str) -> None:
    outside = make_safetensors(tmp_path / "outside.safetensors", ("stolen.weight",))
    folder = tmp_path / "model"
    make_safetensors(folder / "model-00001-of-00002.safetensors", ("a.weight",))
    if where == "dotdot":
        shard = "../outside.safetensors"
    elif where == "absolute":
        shard = str(outside)
    else:
        os.symlink(outside, folder / "model-00002-of-00002.safetensors")
        shard = "model-00002-of-00002.safetensors"
    write_index(folder, {"a.weight": "model-00001-of-00002.safetensors", "stolen.weight": shard})
    with pytest.raises(UnsafePathError, match="outside the model's folder") as exc:
        load_model(folder)
    assert "\n" not in str(exc.value)


def test_shard_symlink_out_without_index_is_refused(tmp_path: Path) -> None:
    outside = make_safetensors(tmp_path / "elsewhere" / "x.safetensors", ("stolen.weight",))
    folder = tmp_path / "model"
    make_safetensors(folder / "model-00001-of-00002.safetensors", ("a.weight",))
    os.symlink(outside, folder / "model-00002-of-00002.safetensors")
    with pytest.raises(UnsafePathError, match="outside the model's folder"):
        load_model(folder)


def test_symlink_staying_inside_the_folder_still_opens(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    make_safetensors(folder / "blobs" / "one.safetensors", ("a.weight",))
    os.symlink("blobs/one.safetensors", folder / "model-00001-of-00001.safetensors")
    write_index(folder, {"a.weight": "model-00001-of-00001.safetensors"})
    model = load_model(folder)
    assert [t.name for t in model.tensors()] == ["a.weight"]


def test_hugging_face_cache_snapshot_links_into_its_blobs_open(tmp_path: Path) -> None:
    """The hub cache keeps <repo>/snapshots/<rev>/<file> as links to <repo>/blobs/<hash>."""
    repo = tmp_path / "models--org--tiny"
    blob = make_safetensors(repo / "blobs" / "9f2c", ("a.weight",))
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    os.symlink(os.path.relpath(blob, snapshot), snapshot / "model-00001-of-00001.safetensors")
    write_index(snapshot, {"a.weight": "model-00001-of-00001.safetensors"})
    assert [t.name for t in load_model(snapshot).tensors()] == ["a.weight"]


def test_hub_cache_exception_is_only_the_repos_blobs(tmp_path: Path) -> None:
    """A snapshot link to anywhere but its own repository's blobs, or a '..' name, is refused."""
    repo = tmp_path / "models--org--tiny"
    other = make_safetensors(tmp_path / "models--org--other" / "blobs" / "x", ("stolen.weight",))
    snapshot = repo / "snapshots" / "abc123"
    make_safetensors(snapshot / "model-00001-of-00002.safetensors", ("a.weight",))
    os.symlink(other, snapshot / "model-00002-of-00002.safetensors")
    write_index(snapshot, {"a.weight": "model-00001-of-00002.safetensors",
                           "stolen.weight": "model-00002-of-00002.safetensors"})  # fmt: skip
    with pytest.raises(UnsafePathError):
        load_model(snapshot)
    with pytest.raises(UnsafePathError):
        resolve_inside(snapshot, "../../blobs/x", "the index's shard")


def test_absolute_foreign_file_never_leaks_into_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = foreign_file(tmp_path)
    folder = tmp_path / "model"
    make_safetensors(folder / "model-00001-of-00002.safetensors", ("a.weight",))
    write_index(folder, {"a.weight": "model-00001-of-00002.safetensors", "b.weight": str(foreign)})
    assert main(["inspect", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("layerscope: ")
    assert "outside the model's folder" in err
    assert_no_secret(err)


def test_etc_passwd_in_the_index_is_refused_without_echo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "model"
    make_safetensors(folder / "model-00001-of-00002.safetensors", ("a.weight",))
    write_index(folder, {"a.weight": "model-00001-of-00002.safetensors", "b": "/etc/passwd"})
    assert main(["inspect", str(folder), "--summary"]) == 2
    err = capsys.readouterr().err.strip()
    assert "outside the model's folder" in err and "root:" not in err
    head = Path("/etc/passwd").read_bytes()[:8]
    assert str(int.from_bytes(head.ljust(8, b"\0"), "little")) not in err


def test_index_with_non_text_entries_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "model"
    make_safetensors(folder / "model-00001-of-00001.safetensors", ("a.weight",))
    write_index(folder, {"a.weight": 7})
    assert main(["inspect", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "not a valid safetensors index" in err


def test_long_names_from_the_index_are_cut(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    make_safetensors(folder / "model-00001-of-00001.safetensors", ("a.weight",))
    ghost = "g" * 5000 + "\nnext line"
    write_index(folder, {"a.weight": "model-00001-of-00001.safetensors", ghost: "missing\n" * 500})
    with pytest.raises(ModelFileError) as exc:
        load_model(folder)
    message = str(exc.value)
    assert "\n" not in message and len(message) < 400


def test_resolve_inside_and_regular_file_rules(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "ok.bin").write_bytes(b"x")
    assert resolve_inside(tmp_path / "m", "ok.bin", "data") == (tmp_path / "m" / "ok.bin").resolve()
    for bad in ("../x", "/etc/passwd", "", ".", "sub/../../x"):
        with pytest.raises(UnsafePathError):
            resolve_inside(tmp_path / "m", bad, "data")
    with pytest.raises(ModelFileError, match="not a valid path"):
        resolve_inside(tmp_path / "m", "a\x00b", "data")
    assert require_regular_file(tmp_path / "m" / "ok.bin", "data").st_size == 1
    with pytest.raises(ModelFileError, match="a folder, not a regular file"):
        require_regular_file(tmp_path / "m", "data")
    with pytest.raises(ModelFileError, match="a character device, not a regular file"):
        require_regular_file(Path("/dev/null"), "data")
