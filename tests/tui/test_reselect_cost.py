"""Going back to a layer already viewed redraws nothing it has drawn before, pinned by counting.

The histogram's plotext calls are made only for a drawing the plot has not cached, and a layer
with the same tensor rows as the last one updates the tensor list in place (re-listing it changes
the list's height for a moment, which lays the whole screen out).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pilot_helpers import wait_idle
from tui_models import make_wide_safetensors

from layerscope.tui.widgets.histogram import Histogram
from layerscope.tui.widgets.layer_tree import LayerTree
from layerscope.tui.widgets.tensor_list import TensorList


async def test_reselect_draws_from_cache_and_keeps_the_tensor_rows(
    tmp_path: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(make_wide_safetensors(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        tree = app.screen.query_one(LayerTree)
        tensors = app.screen.query_one(TensorList)
        assert tree.current_layer == "blocks.0.layer0"
        draws, relists = [], []
        draw = Histogram._draw
        monkeypatch.setattr(
            Histogram,
            "_draw",
            lambda h, plot, stats, *a: draws.append(stats) or draw(h, plot, stats, *a),
        )
        clear = TensorList.clear_options
        monkeypatch.setattr(TensorList, "clear_options", lambda t: relists.append(1) or clear(t))

        await pilot.press("down")
        await wait_idle(pilot)
        assert tree.current_layer == "blocks.0.layer1"
        assert len(draws) == 1 and draws[0] is app.screen.stats  # a new drawing
        assert relists == []  # weight → weight: the row changed in place
        assert tensors.current is app.screen.ref
        assert app.screen.ref.name == "blocks.0.layer1.weight"
        assert "weight" in str(tensors.get_option_at_index(0).prompt)

        await pilot.press("up")
        await wait_idle(pilot)
        assert tree.current_layer == "blocks.0.layer0"
        assert len(draws) == 1  # drawn before: the cached drawing is shown
        assert app.screen.ref.name == "blocks.0.layer0.weight"
        assert "Weight Distribution" in app.screen.query_one(Histogram).plt.build()

        await pilot.press("up")  # blocks.0: a container, another kind of row
        await wait_idle(pilot)
        assert relists == [1]
        assert "container" in str(tensors.get_option_at_index(0).prompt)
        assert tensors.current is None
