"""Issue 17, done-when: the Quantization view and the inspector's quantization facts fit 80×24.

The table keeps its verdict columns and drops the least important ones rather than scrolling
sideways, the caption under the plots is whole (it wraps), and a per-channel tensor's facts are
reachable at 80×24 with the log pane on (not drawn under the docked bins/range controls).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fake_runs import wait_for
from pilot_helpers import wait_idle

from layerscope.tui.screens.quantization import QuantizationScreen
from layerscope.tui.widgets.channel_table import ChannelTable
from layerscope.tui.widgets.quant_histograms import QuantHistograms
from layerscope.tui.widgets.quant_table import QuantTable

VERDICT = ["weight dB", "act dB"]


@pytest.fixture
def long_names(model_dir: Path, tmp_path: Path) -> Path:
    """The ONNX pair: its node names (/features/features.5/GlobalAveragePool) are long."""
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("smallcnn.onnx", "smallcnn_int8.onnx"):
        shutil.copy(model_dir / name, folder / name)
    return folder


def headers(table: QuantTable) -> list[str]:
    return [c.label.plain for c in table.columns.values()]


async def open_quant(pilot) -> QuantizationScreen:
    await wait_idle(pilot)
    await pilot.press("Q")
    await wait_idle(pilot, 120)
    screen = pilot.app.screen
    assert isinstance(screen, QuantizationScreen)
    await pilot.pause()
    return screen


def shown_text(widget) -> str:
    lines = widget.render_lines(widget.region.reset_offset)
    return " ".join("".join(seg.text for seg in line).strip() for line in lines).strip()


async def test_table_and_caption_fit_80x24(long_names: Path, make_app) -> None:
    app = make_app(long_names / "smallcnn_int8.onnx")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_quant(pilot)
        table = screen.query_one(QuantTable)
        assert table.row_count > 0
        assert table.max_scroll_x == 0, table.virtual_size  # nothing off to the right
        names = headers(table)
        assert all(v in names for v in VERDICT) and "layer" in names, names
        hists = screen.query_one(QuantHistograms)
        caption = hists.query_one("#quant-hist-caption")
        assert hists.caption and " ".join(hists.caption.split()) == " ".join(
            shown_text(caption).split()
        )


async def test_every_column_at_120x40(long_names: Path, make_app) -> None:
    app = make_app(long_names / "smallcnn_int8.onnx")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_quant(pilot)
        table = screen.query_one(QuantTable)
        assert headers(table)[1:] == ["layer", "op", "weight dB", "act dB", "act cos", "max |Δw|"]
        assert table.max_scroll_x == 0


async def test_per_channel_facts_reachable_at_80x24_with_log(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        await pilot.press("l")  # the log pane on
        screen = app.screen
        layer = next(
            n
            for n, layer in screen.model.layers.items()
            if any(t.quant is not None and t.quant.per_channel for t in layer.tensors.values())
        )
        screen.tree.reveal(layer)
        await wait_for(pilot, lambda: screen.tree.current_layer == layer)
        await wait_idle(pilot)
        facts = screen.query_one("#facts")
        controls = screen.query_one("#controls")
        assert facts.region.height > 0
        assert facts.region.bottom <= controls.region.y, (facts.region, controls.region)
        channels = screen.query_one(ChannelTable)
        assert channels.display and channels in screen.focus_chain
        channels.focus()  # Tab reaches it; focusing scrolls the facts box to it
        await wait_idle(pilot)
        seen = channels.region.intersection(facts.region)
        assert seen.height >= 2, (channels.region, facts.region)  # header and a channel row
        assert not seen.overlaps(controls.region)
