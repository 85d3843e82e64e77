"""A 10,000-tensor model stays fluid: only expanded nodes exist, wide levels come in pages."""

from __future__ import annotations

import time
from pathlib import Path

from pilot_helpers import wait_idle
from tui_models import make_wide_safetensors

from layerscope.tui.widgets.layer_tree import MAX_MATCHES, PAGE, LayerTree
from layerscope.tui.widgets.stats_panel import StatsPanel


def node_count(tree: LayerTree) -> int:
    count, stack = 0, [tree.root]
    while stack:
        node = stack.pop()
        count += 1
        stack.extend(node.children)
    return count


async def test_deep_model_builds_only_what_is_expanded(tmp_path: Path, make_app) -> None:
    app = make_app(make_wide_safetensors(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        tree = app.screen.query_one(LayerTree)
        assert tree.current_layer == "blocks.0.layer0"
        # root, "blocks", its 100 children, the 100 layers of the one expanded: not 10,000 nodes
        assert node_count(tree) == 1 + 1 + 100 + 100
        start = time.perf_counter()
        await pilot.press("down", "down", "down")
        await wait_idle(pilot)
        print(f"\nthree steps down the 10,000-tensor tree: {time.perf_counter() - start:.3f} s")
        assert tree.current_layer == app.screen.model.layers["blocks.0"].children[3]
        assert dict(app.screen.query_one(StatsPanel).rows)["shape"] == "4"

        await pilot.press("slash", *"layer99")
        await wait_idle(pilot)
        blocks = tree.root.children[0].children
        assert len(blocks) == 100 and all(len(b.children) == 1 for b in blocks)
        assert {b.children[0].data for b in blocks} == {f"blocks.{i}.layer99" for i in range(100)}


async def test_flat_model_pages_its_children(tmp_path: Path, make_app) -> None:
    app = make_app(make_wide_safetensors(tmp_path, flat=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        tree = app.screen.query_one(LayerTree)
        assert len(tree.root.children) == PAGE + 1  # one page and "… 9,800 more"
        assert "9,800 more" in str(tree.root.children[-1].label)
        await pilot.press("end", "enter")
        await wait_idle(pilot)
        assert len(tree.root.children) == 2 * PAGE + 1
        await pilot.press("slash", *"w12")  # w12, w120..w129, w1200..w1299: 111 matches
        await wait_idle(pilot)
        assert len(tree.root.children) == 111 <= MAX_MATCHES
