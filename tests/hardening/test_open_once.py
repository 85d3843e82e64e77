"""Opening a ``torch.save`` zip walks its ``data.pkl`` once, and that one walk serves both the
archive checks and the tensor metadata; every check still runs when the metadata is unusable."""

from __future__ import annotations

import gc
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from hostile_torchzip import repack, saved, state_dict, tensor_ops, with_pickle

from layerscope.engine.errors import ModelFileError
from layerscope.engine.loaders import load_model, torch_loader, torch_meta, zip_check


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Counts every unpickling of data.pkl: layerscope's walks (by class) and ``torch.load``."""
    seen: dict[str, list[str]] = {"walks": [], "strict": [], "torch_load": []}
    real_walk = zip_check._Scanner.load  # _MetaScanner.load ends in this one too

    def walk(self: Any) -> Any:
        seen["walks"].append(type(self).__name__)
        return real_walk(self)

    def strict(self: Any) -> Any:  # the old second pass for metadata: must not come back
        seen["strict"].append(type(self).__name__)
        return pickle_load(self)

    pickle_load = torch_meta._MetaUnpickler.load
    real_torch_load = torch_loader._torch_load
    monkeypatch.setattr(zip_check._Scanner, "load", walk)
    monkeypatch.setattr(torch_meta._MetaUnpickler, "load", strict)
    monkeypatch.setattr(
        torch_loader,
        "_torch_load",
        lambda *a, **k: seen["torch_load"].append(str(a[0])) or real_torch_load(*a, **k),
    )
    return seen


def _mixed_state_dict() -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    sd: dict[str, Any] = OrderedDict()
    sd["enc.0.weight"] = torch.nn.Parameter(torch.randn(4, 3, generator=g))
    sd["enc.0.bias"] = torch.randn(4, generator=g).to(torch.bfloat16)
    sd["enc.1.running_mean"] = torch.zeros(4, dtype=torch.float64)
    sd["enc.1.num_batches_tracked"] = torch.tensor(7)
    sd["head.mask"] = torch.ones(2, 5, dtype=torch.bool)
    sd["head.view"] = torch.arange(12, dtype=torch.int32).view(3, 4)[:, 1:3]  # offset, strides
    return sd


def test_data_pkl_is_unpickled_once_per_open(tmp_path: Path, walks: dict[str, list[str]]) -> None:
    sd = _mixed_state_dict()
    path = tmp_path / "sd.pt"
    torch.save(sd, path)
    model = load_model(path)
    assert walks == {"walks": ["_MetaScanner"], "strict": [], "torch_load": []}
    for name, t in sd.items():  # the one walk's metadata is what torch.load would give
        ref = model.tensor(name)
        assert (ref.dtype, ref.shape) == (str(t.dtype).removeprefix("torch."), tuple(t.shape))
        assert ref.nbytes == t.numel() * t.element_size()
    torch.testing.assert_close(model.tensor("head.view").load(), sd["head.view"])
    assert walks["walks"] == ["_MetaScanner"] and len(walks["torch_load"]) == 1  # on selection


def test_lightning_checkpoint_is_unpickled_once(
    tmp_path: Path, walks: dict[str, list[str]]
) -> None:
    path = tmp_path / "run.ckpt"
    ckpt = {"state_dict": {f"model.{k}": v for k, v in state_dict().items()}, "epoch": 3,
            "global_step": 30, "hyper_parameters": {"lr": 0.1}}  # fmt: skip
    torch.save(ckpt, path)
    model = load_model(path)
    assert walks == {"walks": ["_MetaScanner"], "strict": [], "torch_load": []}
    assert model.format == "lightning-ckpt" and model.metadata["epoch"] == 3
    assert model.tensor("fc.bias").shape == (256,)


def test_unusable_metadata_still_gets_every_check(
    tmp_path: Path, walks: dict[str, list[str]]
) -> None:
    # torch.dtype is allowed by weights_only=True but not modelled by the metadata walk: the
    # file opens through torch.load, and the one walk still checked the members.
    path = tmp_path / "dtype.pt"
    torch.save({**state_dict(), "dtype": torch.float32}, path)
    model = load_model(path)
    assert walks["walks"] == ["_MetaScanner"] and len(walks["torch_load"]) == 1
    assert model.tensor("fc.weight").shape == (16, 16)
    short = repack(path, tmp_path / "short.pt", shorten="data/0", cut=64)
    with pytest.raises(ModelFileError, match="data/0 is too short"):
        load_model(short)


def test_metadata_walk_failure_falls_back_to_the_all_stub_walk(
    tmp_path: Path, walks: dict[str, list[str]]
) -> None:
    # OrderedDict(1.5) raises in the metadata walk; the stub walk still sees the storage that
    # is too small for its tensor, and refuses the file, as the checks always did.
    bad_od = b"ccollections\nOrderedDict\nG?\xf8\x00\x00\x00\x00\x00\x00\x85R"
    payload = (
        b"\x80\x02}(X\x01\x00\x00\x00w"
        + tensor_ops("0", 1, (1000,), (1,))
        + (b"X\x01\x00\x00\x00o" + bad_od + b"u.")
    )
    path = with_pickle(tmp_path / "odd.pt", payload, {"0": b"\0\0\x80?"})
    with pytest.raises(ModelFileError, match="reaches element"):
        load_model(path)
    assert walks["walks"] == ["_MetaScanner", "_Scanner"] and walks["torch_load"] == []


def test_other_globals_are_never_imported_by_the_walk(tmp_path: Path) -> None:
    # os.system as a global, called: the walk stubs it (nothing runs), and the metadata is
    # marked unusable, so torch.load(weights_only=True) refuses the file.
    marker = tmp_path / "ran"
    call = b"cos\nsystem\nX" + len(f"touch {marker}").to_bytes(4, "little")
    call += f"touch {marker}".encode() + b"\x85R"
    payload = b"\x80\x02}(X\x01\x00\x00\x00w" + tensor_ops("0", 4, (4,), (1,))
    payload += b"X\x01\x00\x00\x00x" + call + b"u."
    path = with_pickle(tmp_path / "evil.pt", payload, {"0": bytes(16)})
    check = zip_check.check_archive(path)
    assert not check.has_metadata and check.metadata is None and not marker.exists()
    with pytest.raises(Exception, match="pickled Python objects|corrupt"):
        load_model(path)
    assert not marker.exists()


def test_plain_archive_metadata_matches_torch_load(tmp_path: Path) -> None:
    path = saved(tmp_path / "plain.pt")
    check = zip_check.check_archive(path)
    assert check.has_metadata and check.mmap_ok
    real = torch.load(path, weights_only=True)
    meta = check.metadata
    assert list(meta) == list(real)
    for name, t in real.items():
        assert (meta[name].dtype, meta[name].shape) == ("float32", tuple(t.shape))


def test_zip_central_directory_is_parsed_once_per_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from layerscope.engine.loaders import zip_index

    path = saved(tmp_path / "plain.pt")
    parses: list[str] = []
    real = zip_index.ZipIndex._read_directory

    def parse(self: zip_index.ZipIndex, size: int) -> None:
        parses.append(str(self.path))
        real(self, size)

    def zipfile_parse(self: zipfile.ZipFile) -> None:
        parses.append(f"zipfile: {self.filename}")

    monkeypatch.setattr(zip_index.ZipIndex, "_read_directory", parse)
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", zipfile_parse)
    model = load_model(path)  # sniffing lists the zip; the checks reuse it; zipfile never does
    assert parses == [str(path)]
    assert model.tensor("fc.bias").shape == (256,)


def _collections() -> int:
    return sum(gen["collections"] for gen in gc.get_stats())


def test_no_garbage_collection_runs_while_a_model_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import layerscope.engine.loaders as loaders

    path = tmp_path / "many.pt"
    torch.save({f"block.{i}.w": torch.zeros(1) for i in range(3000)}, path)
    seen: list[tuple[int, int, bool]] = []
    real = loaders._load

    def load(*args: Any) -> Any:
        before = _collections()
        model = real(*args)
        seen.append((before, _collections(), gc.isenabled()))
        return model

    monkeypatch.setattr(loaders, "_load", load)
    assert gc.isenabled()
    model = load_model(path)  # ~10 objects per tensor: dozens of collections if left on
    assert len(model.layers) == 3002
    ((before, after, enabled),) = seen
    assert (after - before, enabled) == (0, False)
    assert gc.isenabled()  # collection resumes after the open


def test_gc_pause_is_shared_and_keeps_a_disabled_gc_disabled() -> None:
    from layerscope.engine.loaders import _gc_paused

    with _gc_paused():
        with _gc_paused():
            pass
        assert not gc.isenabled()  # the outer open is still running
    assert gc.isenabled()
    gc.disable()
    try:
        with _gc_paused():
            pass
        assert not gc.isenabled()  # the caller's choice stands
    finally:
        gc.enable()
