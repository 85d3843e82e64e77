"""FIFOs, devices and folders where a regular file belongs are refused before anything opens them
(opening a FIFO blocks until a writer comes: a hang, not an error). Every FIFO made here is
released at teardown, so a regression fails on its timeout instead of hanging the run."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hostile_fs import Fifos, make_safetensors, write_index

from layerscope.engine import datasets
from layerscope.engine.cli import main
from layerscope.engine.discover import discover, list_folder
from layerscope.engine.errors import InputError, ModelFileError
from layerscope.engine.inputs import load_input
from layerscope.engine.loaders import clear_cache, load_model

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def fifos() -> Iterator[Fifos]:
    clear_cache()
    made = Fifos()
    yield made
    made.release_all()


def test_fifo_as_model_is_refused_by_the_cli(
    tmp_path: Path, fifos: Fifos, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = fifos.make(tmp_path / "model.onnx")
    assert main(["inspect", str(fifo)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "FIFO" in err and "not a regular file" in err


def test_fifo_as_index_is_refused(tmp_path: Path, fifos: Fifos) -> None:
    folder = tmp_path / "model"
    make_safetensors(folder / "model-00001-of-00001.safetensors")
    fifos.make(folder / "model.safetensors.index.json")
    with pytest.raises(ModelFileError, match="FIFO"):
        load_model(folder)


def test_fifo_as_shard_named_by_the_index_is_refused(tmp_path: Path, fifos: Fifos) -> None:
    folder = tmp_path / "model"
    make_safetensors(folder / "model-00001-of-00002.safetensors", ("a.weight",))
    fifos.make(folder / "model-00002-of-00002.safetensors")
    write_index(
        folder,
        {"a.weight": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"},
    )
    with pytest.raises(ModelFileError, match="FIFO"):
        load_model(folder)


def test_fifo_as_shard_without_index_is_refused(tmp_path: Path, fifos: Fifos) -> None:
    folder = tmp_path / "model"
    make_safetensors(folder / "model-00001-of-00002.safetensors", ("a.weight",))
    fifos.make(folder / "model-00002-of-00002.safetensors")
    with pytest.raises(ModelFileError, match="FIFO"):
        load_model(folder)


def test_folder_as_shard_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    make_safetensors(folder / "model-00001-of-00002.safetensors", ("a.weight",))
    (folder / "model-00002-of-00002.safetensors").mkdir()
    with pytest.raises(ModelFileError, match="a folder, not a regular file"):
        load_model(folder)


def test_fifo_as_onnx_external_data_is_refused(tmp_path: Path, fifos: Fifos) -> None:
    from onnx import TensorProto, helper, numpy_helper

    w = np.ones((4, 3), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    t = model.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("offset", "0"), ("length", str(w.nbytes))):
        t.external_data.add(key=key, value=value)
    path = tmp_path / "ext.onnx"
    path.write_bytes(model.SerializeToString())
    fifos.make(tmp_path / "w.bin")
    with pytest.raises(ModelFileError, match="FIFO"):
        load_model(path)


@pytest.mark.parametrize("name", ["x.npy", "x.png", "x"])
def test_fifo_as_input_file_is_refused(tmp_path: Path, fifos: Fifos, name: str) -> None:
    fifo = fifos.make(tmp_path / name)
    with pytest.raises(InputError, match="FIFO"):
        load_input(str(fifo), input_shape=(3, 32, 32))


def test_fifo_input_through_the_cli_is_one_line(
    tmp_path: Path, fifos: Fifos, capsys: pytest.CaptureFixture[str]
) -> None:
    model = make_safetensors(tmp_path / "m.safetensors")
    fifo = fifos.make(tmp_path / "x.npy")
    code = main(["capture", str(model), "--input", str(fifo), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err


def test_fifo_as_cifar_batch_is_refused(tmp_path: Path, fifos: Fifos) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    fifos.make(folder / "test_batch")
    with pytest.raises(InputError, match="FIFO"):
        load_input("cifar10:0", data_dir=folder)
    for i in range(1, 6):
        fifos.make(folder / f"data_batch_{i}")
    with pytest.raises(InputError, match="FIFO"):
        datasets.read_cifar10(folder, "train")


def test_discover_skips_special_files_and_says_which(tmp_path: Path, fifos: Fifos) -> None:
    make_safetensors(tmp_path / "good.safetensors")
    fifos.make(tmp_path / "stuck.onnx")
    os.symlink("/dev/null", tmp_path / "null.pt")
    assert [e.name for g in discover(tmp_path) for e in g.entries] == ["good.safetensors"]
    listing = list_folder(tmp_path)
    reasons = {p.name: why for p, why in listing.skipped}
    assert "FIFO" in reasons["stuck.onnx"] and "character device" in reasons["null.pt"]


async def test_app_on_a_folder_with_a_fifo_lists_and_quits(tmp_path: Path, fifos: Fifos) -> None:
    from layerscope.tui.app import LayerscopeApp
    from layerscope.tui.widgets.model_picker import ModelPicker

    make_safetensors(tmp_path / "good.safetensors")
    fifos.make(tmp_path / "stuck.onnx")
    app = LayerscopeApp(tmp_path, show_timings=False)
    async with app.run_test(size=(120, 40)) as pilot:
        picker = app.screen.query_one(ModelPicker)

        def listed() -> list[str]:
            return [Path(o.id).name for o in picker.options if o.id]

        async def listing() -> None:
            while not listed():
                await pilot.pause(0.05)

        try:
            # A hang guard, not a speed check: pytest-timeout's signal cannot stop a Textual
            # loop (the message pump swallows it), so the wait is bounded here.
            await asyncio.wait_for(listing(), timeout=45)
        finally:
            fifos.release_all()  # a listing stuck in open() returns, so the app can shut down
        assert listed() == ["good.safetensors"]
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
