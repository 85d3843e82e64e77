"""Issue 17, item 5: CIFAR-10's folder can be set in the app, a failed capture is read whole,
and the activations still shown after it say which input they came from."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from pilot_helpers import wait_idle
from textual.widgets import Input, Select

from layerscope.tui.widgets.activation_status import ActivationStatus
from layerscope.tui.widgets.input_source import InputSource


@pytest.fixture
def cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A four-image CIFAR-10 test batch in ``cifar/cifar-10-batches-py`` (seeded)."""
    monkeypatch.chdir(tmp_path)  # no ./data here: the default folder finds nothing
    monkeypatch.delenv("LAYERSCOPE_CIFAR10", raising=False)
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    data = np.random.default_rng(0).integers(0, 256, (4, 3072), dtype=np.uint8)
    with (folder / "test_batch").open("wb") as fh:
        pickle.dump({b"data": data, b"labels": [3, 1, 4, 1]}, fh)
    return folder.parent


async def choose_cifar(pilot, folder: str, index: str = "2") -> InputSource:
    bar = pilot.app.screen.query_one(InputSource)
    bar.query_one("#source-kind", Select).value = "cifar10"
    await pilot.pause()
    assert bar.query_one("#cifar-folder", Input).display  # the folder field shows for CIFAR-10
    bar.query_one("#cifar-folder", Input).value = folder
    bar.field.value = index
    bar.run()
    await wait_idle(pilot)
    return bar


async def test_cifar10_folder_is_set_in_the_app(model_dir: Path, cifar: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        bar = await choose_cifar(pilot, str(cifar))
        assert bar.session is not None, bar.status.text
        assert bar.session.batch.spec == "cifar10:2"
        assert "CIFAR-10" in bar.status.text


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_failed_capture_is_read_whole_and_names_the_input_still_shown(
    size: tuple[int, int], model_dir: Path, cifar: Path, make_app
) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=size) as pilot:
        await wait_idle(pilot)
        await pilot.press("c", "3", "enter")  # a good capture first: digit 3
        await wait_idle(pilot)
        bar = await choose_cifar(pilot, "no/such/folder")
        status = bar.query_one(ActivationStatus)
        assert status.text.startswith("Capture failed (still showing digits:3")
        assert "CIFAR-10 python folder not found (looked in no/such/folder)" in status.text
        assert bar.showing_activations
        shown = " ".join(
            "".join(seg.text for seg in line).strip()
            for line in status.render_lines(status.region.reset_offset)
        )
        assert "still showing digits:3" in shown and "CIFAR-10 python folder not found" in shown
        if size == (120, 40):  # room for all of it
            assert shown.rstrip().endswith("digits:0 or random")
