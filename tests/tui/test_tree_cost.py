"""What a filter keystroke and a model open cost the UI thread, pinned by counting, not timing.

A 10,000-tensor model: a keystroke lays the tree out once (not once per node added), builds each
layer's label once per model, searches only the last matches when the user types on; the model's
objects are kept out of the garbage collector's full passes once it is open.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from pilot_helpers import wait_idle
from rich.style import Style
from textual.widgets import Tree
from tui_models import make_wide_safetensors

from layerscope.tui.widgets.layer_tree import LayerTree


def all_nodes(tree: LayerTree) -> list:
    out, stack = [], [tree.root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children)
    return out


async def test_filter_keystroke_lays_out_once_and_labels_each_layer_once(
    tmp_path: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(make_wide_safetensors(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        tree = app.screen.query_one(LayerTree)
        invalidations, labels = [], []
        invalidate, make_label = Tree._invalidate, LayerTree._make_label
        monkeypatch.setattr(Tree, "_invalidate", lambda t: invalidations.append(1) or invalidate(t))
        monkeypatch.setattr(
            LayerTree,
            "_make_label",
            lambda t, layer: labels.append(layer.name) or make_label(t, layer),
        )
        tree.set_filter("layer9")  # layer9, layer90..99 of 100 blocks: 1,100 matches, 500 shown
        added = len(all_nodes(tree))
        assert added > 500
        assert len(invalidations) < 10  # was one per node added (and per expand on the way)
        assert len(labels) == len(set(labels))
        labels.clear()
        tree.set_filter("s.2.layer9")  # block 2's 11: all shown a keystroke ago
        assert labels == []
        assert len(all_nodes(tree)) == 1 + 1 + 1 + 11
        await pilot.pause()
        assert tree.current_layer == "blocks.2.layer9"


async def test_typing_on_searches_the_last_matches_only(tmp_path: Path, make_app) -> None:
    app = make_app(make_wide_safetensors(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        tree = app.screen.query_one(LayerTree)
        names = [n for n in app.screen.model.layers if n]

        def expect(needle: str) -> list[str]:
            return [n for n in names if needle.lower() in n.lower()]

        tree.set_filter("Layer1")  # case-insensitive
        assert tree._last == ("layer1", expect("layer1"))

        class Untouchable(list):
            def __iter__(self):  # the whole-model index
                raise AssertionError("typing on re-scanned every layer")

        index, tree._lowered = tree._lowered, Untouchable(tree._lowered)
        tree.set_filter("layer12")
        assert tree._last == ("layer12", expect("layer12"))
        blocks = {c.data for c in tree.root.children[0].children}
        assert blocks == {f"blocks.{i}" for i in range(100)}
        tree._lowered = index
        tree.set_filter("s.7.layer1")  # not an extension of the last needle: the whole index
        assert tree._last[1] == expect("s.7.layer1") and len(tree._last[1]) == 11


async def test_measured_label_width_is_the_drawn_width(tmp_path: Path, make_app) -> None:
    app = make_app(make_wide_safetensors(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        tree = app.screen.query_one(LayerTree)
        for text in ("", "layer5", "blocks.3.layr5"):  # the last: close-name suggestions
            tree.set_filter(text)
            await pilot.pause()
            nodes = all_nodes(tree)
            assert len(nodes) > 1
            if "layr" in text:
                assert any("did you mean" in str(n.label) for n in nodes)
            for node in nodes:  # expanded, collapsed, leaves, "… more" rows, suggestions
                drawn = Tree.render_label(tree, node, Style(), Style()).cell_len
                assert tree.get_label_width(node) == drawn, node.label


async def test_open_model_is_out_of_full_collections(tmp_path: Path, make_app) -> None:
    app = make_app(make_wide_safetensors(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        model = app.screen.model
        assert model is not None and gc.get_freeze_count() > 0
        tracked = {id(o) for o in gc.get_objects()}  # generations 0-2, not the frozen objects
        assert id(model.layers) not in tracked
        assert not any(id(layer) in tracked for layer in model.layers.values())


async def test_cleared_nodes_are_freed_without_a_collection(tmp_path: Path, make_app) -> None:
    """Parent ↔ child links are reference cycles; the tree unlinks the nodes it clears."""
    from textual.widgets.tree import TreeNode

    app = make_app(make_wide_safetensors(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        tree = app.screen.query_one(LayerTree)
        gc.collect()
        gc.disable()
        try:
            for text in ("layer9", "layer8", "layer7"):  # 549 nodes each
                tree.set_filter(text)
            live = sum(1 for o in gc.get_objects() if type(o) is TreeNode)
        finally:
            gc.enable()
        assert len(all_nodes(tree)) == 549
        assert live - 549 < 100  # not the 1,098 nodes of the two trees cleared
