"""Issue 17, missing: sort and jump in the inspector by a statistic, worst layers first."""

from __future__ import annotations

from pathlib import Path

import pytest
from pilot_helpers import settle, wait_idle

from layerscope.engine import load_model
from layerscope.engine.errors import InputError
from layerscope.engine.inspect import tensor_stats
from layerscope.engine.usecases.ranking import rank_tensors
from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.screens.rank import RankScreen
from layerscope.tui.widgets.layer_tree import LayerTree


def test_rank_by_std_smallest_first(model_dir: Path) -> None:
    model = load_model(model_dir / "smallcnn.pt")
    rows = rank_tensors(model, "std")
    stds = [tensor_stats(model.tensor(r.tensor)).std for r in rows]
    assert stds == sorted(stds) and len(rows) == len(list(model.tensors()))
    absmax = rank_tensors(model, "absmax")
    assert [r.value for r in absmax] == sorted((r.value for r in absmax), reverse=True)
    with pytest.raises(InputError, match="rank by one of"):
        rank_tensors(model, "sqnr?")


async def test_s_ranks_and_enter_jumps_to_the_worst(model_dir: Path, make_app) -> None:
    model = load_model(model_dir / "smallcnn.pt")
    worst = rank_tensors(model, "absmax")[0]
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, RankScreen)
        for _ in range(3):  # std, zeros, NaN/Inf, then largest |value|
            await pilot.press("down")
        await pilot.press("enter")
        await wait_idle(pilot)
        rank = app.screen
        assert isinstance(rank, RankScreen) and rank.rows[0].tensor == worst.tensor
        await pilot.press("enter")  # the worst one
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, InspectorScreen)
        assert screen.query_one(LayerTree).current_layer == worst.layer
        assert screen.ref is not None and screen.ref.name == worst.tensor


def test_snapshot_rank_80x24(model_dir: Path, make_app, snap_compare, monkeypatch) -> None:
    monkeypatch.chdir(model_dir.parent)

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("s", "enter")  # by std
        await settle(pilot)

    assert snap_compare(
        make_app("models/smallcnn.pt"), terminal_size=(80, 24), run_before=run_before
    )
