"""Input files that claim far more than they hold: refused from their headers, before decoding or
allocating. CIFAR-10 batches are unpickled by a restricted unpickler (no code runs)."""

from __future__ import annotations

import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy_format

from layerscope.engine import datasets, inputs
from layerscope.engine.cli import main
from layerscope.engine.errors import InputError
from layerscope.engine.inputs import images as input_images
from layerscope.engine.inputs import load_input


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path: Path, side: int = 20000) -> Path:
    """A ``side``×``side`` single-colour 1-bit PNG: tens of KB on disk, ``side``² pixels decoded."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
    png += _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")
    path.write_bytes(png)
    return path


def test_decompression_bomb_png_is_refused_by_pixel_count(tmp_path: Path) -> None:
    path = bomb_png(tmp_path / "bomb.png")
    assert path.stat().st_size < 200_000
    with pytest.raises(InputError, match="64 MP") as exc:
        load_input(str(path), input_shape=(3, 32, 32))
    assert "\n" not in str(exc.value)
    assert inputs.MAX_IMAGE_PIXELS == 64_000_000


def test_image_under_the_limit_still_loads(tmp_path: Path) -> None:
    path = bomb_png(tmp_path / "small.png", side=40)
    batch = load_input(str(path), input_shape=(3, 32, 32))
    assert tuple(batch.tensor.shape) == (1, 3, 32, 32)


def npy_claiming(path: Path, shape: tuple[int, ...], dtype: str = "<f4") -> Path:
    """A .npy whose header claims ``shape`` but which holds only a few bytes of data."""
    with path.open("wb") as fh:
        npy_format.write_array_header_1_0(
            fh, {"descr": dtype, "fortran_order": False, "shape": shape}
        )
        fh.write(b"\x00" * 64)
    return path


def test_npy_claiming_11_tib_is_refused_without_allocating(tmp_path: Path) -> None:
    path = npy_claiming(tmp_path / "huge.npy", (11 * 2**40 // 4,))
    with pytest.raises(InputError, match="claims") as exc:
        load_input(str(path))
    assert "\n" not in str(exc.value)


def test_npy_claiming_more_than_it_holds_is_refused_in_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hostile_fs import make_safetensors

    model = make_safetensors(tmp_path / "m.safetensors")
    path = npy_claiming(tmp_path / "short.npy", (1000, 1000, 1000))
    code = main(["capture", str(model), "--input", str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err


def test_npy_with_a_garbled_header_does_not_echo_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.npy"
    header = b"{'descr': 'SECRETSECRET', 'fortran_order': False, 'shape': (2,), }"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\0" * 8)
    with pytest.raises(InputError) as exc:
        load_input(str(path))
    assert "SECRET" not in str(exc.value)


def test_valid_npy_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.npy"
    np.save(path, np.zeros((2, 3, 4, 4), dtype=np.float32))
    batch = load_input(str(path), input_shape=(3, 4, 4))
    assert tuple(batch.tensor.shape) == (2, 3, 4, 4)


def cifar_folder(tmp_path: Path, batch: object) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with (folder / "test_batch").open("wb") as fh:
        pickle.dump(batch, fh)
    input_images._cifar_test.cache_clear()
    return folder


@pytest.mark.parametrize(
    "batch",
    [[1, 2, 3], {b"data": np.zeros((2, 3072), np.uint8)}, {b"labels": [0]}, "text"],
    ids=["list", "no-labels", "no-data", "str"],
)
def test_cifar_batch_of_the_wrong_shape_is_one_line(tmp_path: Path, batch: object) -> None:
    folder = cifar_folder(tmp_path, batch)
    with pytest.raises(InputError, match="not a CIFAR-10 python batch") as exc:
        load_input("cifar10:0", data_dir=folder)
    assert "\n" not in str(exc.value)


class _Hostile:
    """Unpickling this calls ``open(marker, "w")``: a file appears if the unpickler runs code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (open, (str(self.marker), "w"))


def test_hostile_cifar_pickle_runs_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    folder = cifar_folder(tmp_path, {b"data": _Hostile(marker), b"labels": [0]})
    with pytest.raises(InputError, match="not a CIFAR-10 python batch") as exc:
        load_input("cifar10:0", data_dir=folder)
    assert not marker.exists()
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 300


def test_real_shaped_cifar_batch_still_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    folder = cifar_folder(tmp_path, {b"data": data, b"labels": [3, 1, 4]})
    batch = load_input("cifar10:0-2", data_dir=folder, input_shape=(3, 32, 32))
    assert batch.labels == [3, 1, 4]
    images, labels = datasets.read_cifar10(folder, "test")
    assert images.shape == (3, 32, 32, 3) and labels.tolist() == [3, 1, 4]
