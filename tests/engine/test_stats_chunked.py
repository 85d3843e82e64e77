"""Statistics of a tensor read in chunks (stats.compute_chunks, engine.tensor_file) are exactly
those of the whole tensor, and the whole tensor is never read at once."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from layerscope.engine import inspect, stats, tensor_file
from layerscope.engine.errors import ModelFileError
from layerscope.engine.loaders import load_model

N = 10_007  # prime: no chunk size divides it


def _values(dtype: torch.dtype, n: int = N, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=torch.float64) * 30  # int8 holds about ±4 sigma
    x[::97] = 0  # zeros, also at chunk boundaries (0, 97*k)
    if dtype.is_floating_point:
        x[[5, 1000, 4096]] = torch.tensor([math.nan, math.inf, -math.inf], dtype=torch.float64)
        x[-1] = math.nan  # the very last element, in the short last chunk
    elif dtype == torch.uint32 or dtype == torch.uint8:
        x = x.abs()
    return x.to(dtype)


class Reader:
    """An in-memory ``ChunkReader`` that records every call and every chunk it hands out."""

    def __init__(self, flat: torch.Tensor) -> None:
        self.flat = flat
        self.calls: list[tuple[int, int, int]] = []
        self.largest = 0

    def __call__(self, start: int, stop: int, n: int) -> Iterator[torch.Tensor]:
        self.calls.append((start, stop, n))
        for s in range(start, stop, n):
            chunk = self.flat[s : min(s + n, stop)].clone()
            self.largest = max(self.largest, chunk.numel())
            yield chunk


DTYPES = [torch.bfloat16, torch.float16, torch.float32, torch.float64, torch.int64, torch.int32,
          torch.uint32, torch.int16, torch.int8, torch.uint8, torch.bool, torch.float8_e4m3fn]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("chunk", [1000, 4096, N, N + 1])
def test_chunked_statistics_equal_the_whole_tensors(dtype: torch.dtype, chunk: int) -> None:
    x = _values(dtype).reshape(-1)
    whole = stats.compute(x, 37, chunk_elems=chunk)
    read = Reader(x)
    assert stats.compute_chunks(read, (N,), dtype, 37, chunk_elems=chunk) == whole  # every field
    assert read.largest <= chunk


def test_chunked_statistics_match_numpy_on_a_2d_shape() -> None:
    x = _values(torch.float32).reshape(-1)[:10_000].reshape(100, 100)
    s = stats.compute_chunks(Reader(x.reshape(-1)), (100, 100), torch.float32, 20, chunk_elems=999)
    arr = x.numpy().astype(np.float64)
    finite = arr[np.isfinite(arr)]
    counts, edges = np.histogram(finite, bins=20)
    assert s.shape == (100, 100) and s.numel == 10_000
    assert (s.nan, s.posinf, s.neginf) == (1, 1, 1)
    assert s.min == finite.min() and s.max == finite.max()
    assert s.counts == counts.tolist() and s.edges == edges.tolist()
    assert s.mean == pytest.approx(finite.mean(), rel=1e-12)


def test_fixed_histogram_range_and_all_nonfinite() -> None:
    x = _values(torch.int8).reshape(-1)
    whole = stats.compute(x, 256, hist_range=(-128.5, 127.5))
    got = stats.compute_chunks(Reader(x), (N,), torch.int8, 256, chunk_elems=512,
                               hist_range=(-128.5, 127.5))  # fmt: skip
    assert got == whole
    nan = torch.full((3001,), math.nan, dtype=torch.float32)
    assert stats.compute_chunks(Reader(nan), (3001,), torch.float32, chunk_elems=100) == (
        stats.compute(nan, chunk_elems=100)
    )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_each_value_is_read_once_per_pass_holding_at_most_one_chunk(
    dtype: torch.dtype, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Several threads for 16-bit patterns even on a small tensor, to see that together they
    # hold no more than one chunk.
    monkeypatch.setattr(stats, "_PER_THREAD", 1000)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    x = _values(dtype).reshape(-1)
    read = Reader(x)
    assert stats.compute_chunks(read, (N,), dtype, chunk_elems=2000) == stats.compute(
        x, chunk_elems=2000
    )
    passes = 1 if dtype == torch.bfloat16 else 2  # wide types: moments, then the histogram
    assert sum(stop - start for start, stop, _ in read.calls) == passes * N
    if dtype == torch.bfloat16:
        assert len(read.calls) == 4  # one range per thread, disjoint, covering the tensor
        assert sorted(read.calls)[0][0] == 0 and sorted(read.calls)[-1][1] == N
        assert sum(n for _, _, n in read.calls) <= 2000
    else:
        assert all(n <= 2000 for _, _, n in read.calls)


def test_count_in_range_chunks_equals_the_whole() -> None:
    x = _values(torch.float32).reshape(-1)
    assert stats.count_in_range_chunks(Reader(x), N, -10.0, 25.5, chunk_elems=333) == (
        stats.count_in_range(x, -10.0, 25.5)
    )


def test_complex_is_refused() -> None:
    with pytest.raises(ValueError, match="real dtypes"):
        stats.compute_chunks(Reader(torch.zeros(3)), (3,), torch.complex64)


# --- Through the file: inspect.tensor_stats on a safetensors model ------------------------------


@pytest.fixture
def st_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A safetensors file whose tensors all count as big (even the empty one): 4 KB reads."""
    monkeypatch.setattr(inspect, "CHUNKED_MIN_BYTES", 0)
    monkeypatch.setattr(inspect, "READ_BYTES", 4096)
    path = tmp_path / "m.safetensors"
    save_file({"a.weight": _values(torch.bfloat16).reshape(-1)[:10_000].reshape(100, 100),
               "b.weight": _values(torch.float32, seed=1).reshape(-1)[:9_999].reshape(3, 3333),
               "c.weight": _values(torch.int8, seed=2),
               "d.bias": torch.zeros(0)}, str(path))  # fmt: skip
    return path


def test_tensor_stats_read_in_chunks_equal_the_whole_read(
    st_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real = tensor_file.read_chunks

    def spy(span: tensor_file.RawSpan, start: int, stop: int, n: int) -> Iterator[torch.Tensor]:
        for chunk in real(span, start, stop, n):
            sizes.append(chunk.numel() * chunk.element_size())
            yield chunk

    monkeypatch.setattr(tensor_file, "read_chunks", spy)
    for ref in load_model(st_model).tensors():
        item = torch.empty(0, dtype=ref.load().dtype).element_size()
        whole = stats.compute(ref.load(), 30, chunk_elems=4096 // item)  # the same cuts
        in_range = stats.count_in_range(ref.load(), -5.0, 5.0)
        ref.loader = _never  # the whole tensor must not be read again
        sizes.clear()
        assert inspect.tensor_stats(ref, 30) == whole
        assert inspect.count_in_range(ref, -5.0, 5.0) == in_range
        assert max(sizes, default=0) <= 4096  # one chunk at a time
        assert sum(sizes) >= (2 if ref.dtype == "float32" else 1) * ref.nbytes  # it did read


def test_the_default_read_size_cuts_the_moments_where_a_whole_read_does() -> None:
    """With inspect's read size, chunked moments are those of ``compute`` at its defaults."""
    x = _values(torch.float32, 3 * stats._CPU_CHUNK + 5).reshape(-1)
    chunk = inspect.READ_BYTES // 4
    assert stats.compute_chunks(Reader(x), x.shape, torch.float32, chunk_elems=chunk) == (
        stats.compute(x)
    )
    assert inspect.READ_BYTES // 8 % stats._CPU_CHUNK == 0  # float64 too


def _never() -> torch.Tensor:
    raise AssertionError("the whole tensor was loaded")


def test_small_tensors_and_other_formats_load_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pt = tmp_path / "m.pt"
    torch.save({"w": _values(torch.float32)}, pt)
    monkeypatch.setattr(inspect, "CHUNKED_MIN_BYTES", 1)
    (ref,) = load_model(pt).tensors()
    assert tensor_file.safetensors_span(ref) is None  # a zip, not a safetensors header
    assert inspect.tensor_stats(ref) == stats.compute(ref.load())
    st = tmp_path / "m.safetensors"
    save_file({"w": _values(torch.float32)}, str(st))
    monkeypatch.setattr(inspect, "CHUNKED_MIN_BYTES", N * 4 + 1)  # one byte more than it has
    (ref,) = load_model(st).tensors()
    calls = []
    monkeypatch.setattr(tensor_file, "safetensors_span", calls.append)
    inspect.tensor_stats(ref)
    assert calls == []


def test_a_file_changed_since_it_was_opened_is_read_by_the_loader(st_model: Path) -> None:
    refs = {r.name: r for r in load_model(st_model).tensors()}
    assert tensor_file.safetensors_span(refs["b.weight"]) is not None
    save_file({"b.weight": torch.ones(9_999)}, str(st_model))  # same bytes, another shape
    assert tensor_file.safetensors_span(refs["b.weight"]) is None
    assert tensor_file.safetensors_span(refs["a.weight"]) is None  # gone
    # The loader says what is wrong, as it did before chunked reads.
    with pytest.raises(ModelFileError, match="a.weight"):
        inspect.tensor_stats(refs["a.weight"])


def test_a_file_cut_short_while_reading_is_a_one_line_error(st_model: Path) -> None:
    ref = next(r for r in load_model(st_model).tensors() if r.name == "b.weight")
    span = tensor_file.safetensors_span(ref)
    assert span is not None
    with open(st_model, "r+b") as fh:
        fh.truncate(span.offset + span.nbytes - 10)
    with pytest.raises(ModelFileError) as err:
        list(tensor_file.read_chunks(span, 0, ref.numel, 1000))
    assert "truncated" in str(err.value) and "\n" not in str(err.value)


def test_read_chunks_gives_the_values_in_order(st_model: Path) -> None:
    ref = next(r for r in load_model(st_model).tensors() if r.name == "a.weight")
    span = tensor_file.safetensors_span(ref)
    assert span is not None and span.nbytes == 20_000
    flat = ref.load().reshape(-1)
    pieces = [chunk.clone() for chunk in tensor_file.read_chunks(span, 1, 9_999, 3_000)]
    assert [p.numel() for p in pieces] == [3000, 3000, 3000, 998]
    assert torch.equal(torch.cat(pieces).view(torch.int16), flat[1:9_999].view(torch.int16))
    kept = list(tensor_file.read_chunks(span, 0, 10_000, 4_000))  # held past their turn
    assert torch.equal(torch.cat(kept).view(torch.int16), flat.view(torch.int16))


def _resident_bytes(address: int) -> int:
    """Resident bytes of the memory mapping that holds ``address`` (Linux's /proc/self/smaps)."""
    found = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:
            lo, hi = (int(v, 16) for v in head.split("-"))
            found = lo <= address < hi
        elif found and head == "Rss:":
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no mapping holds {address:#x}")


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="Linux's /proc/self/smaps")
def test_only_about_one_chunk_of_the_file_is_resident_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    save_file({"w": _values(torch.bfloat16, 1 << 24)}, str(path))  # 32 MB
    (ref,) = load_model(path).tensors()
    span = tensor_file.safetensors_span(ref)
    assert span is not None
    resident, total = [], 0
    for chunk in tensor_file.read_chunks(span, 0, ref.numel, 1 << 21):  # 4 MB chunks
        total += int(chunk.view(torch.int16).sum(dtype=torch.int64))  # touches every page
        resident.append(_resident_bytes(chunk.data_ptr()))
    assert len(resident) == 8
    # One chunk, plus the page-cache folios (up to 2 MB) it starts and ends in, which a fault
    # maps whole; the file's 32 MB if chunks were not let go.
    assert max(resident) <= (4 + 2 * 2) << 20
    assert total == int(ref.load().view(torch.int16).sum(dtype=torch.int64))  # the right bytes
