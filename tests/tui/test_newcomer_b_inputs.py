"""Issue 17, items 7-8: input that is lost or invisible in the inspector's controls and filter.

Each test drives the app by keys as the newcomer did and checks what they would see.
"""

from __future__ import annotations

from pathlib import Path

from pilot_helpers import settle, wait_idle
from textual.widgets import Input

from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.widgets.bins_input import BinsInput
from layerscope.tui.widgets.layer_filter import LayerFilter
from layerscope.tui.widgets.layer_tree import LayerTree
from layerscope.tui.widgets.range_inputs import RangeInputs

SMALL = (80, 24)


def inspector(app) -> InspectorScreen:
    assert isinstance(app.screen, InspectorScreen)
    return app.screen


async def test_bins_on_screen_at_80x24_with_log_on(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SMALL) as pilot:
        await wait_idle(pilot)
        await pilot.press("l")  # log pane on: the short layout hides it by default
        await pilot.pause()
        await pilot.press("b")
        await pilot.pause()
        bins = app.screen.query_one(BinsInput)
        assert bins.has_focus
        screen_rows = app.screen.region
        assert screen_rows.contains_region(bins.region), (bins.region, screen_rows)
        # Not hidden under the log pane either.
        log = app.screen.query_one("#log")
        assert not log.region.overlaps(bins.region)
        assert bins.region.bottom <= log.region.y


async def test_escape_leaves_bins_and_restores_value(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SMALL) as pilot:
        await wait_idle(pilot)
        tree = app.screen.query_one(LayerTree)
        await pilot.press("b", "backspace", "backspace", "7")
        await pilot.press("escape")
        await wait_idle(pilot)
        bins = app.screen.query_one(BinsInput)
        assert not bins.has_focus
        assert tree.has_focus  # the next keys reach the tree again
        assert bins.value == "50" and inspector(app).bins == 50  # Escape discards the edit


async def test_escape_leaves_range_fields(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SMALL) as pilot:
        await wait_idle(pilot)
        await pilot.press("r", "0", ".", "1")
        await pilot.press("escape")
        await wait_idle(pilot)
        low = app.screen.query_one("#range-low", Input)
        assert not low.has_focus and low.value == ""
        assert app.screen.query_one(LayerTree).has_focus
        await pilot.press("r", "tab")  # into high
        high = app.screen.query_one("#range-high", Input)
        assert high.has_focus
        await pilot.press("escape")
        assert not high.has_focus
        assert inspector(app).low is None


async def test_range_clear_leaves_no_red_border(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SMALL) as pilot:
        await wait_idle(pilot)
        await pilot.press("r", "minus", "0", ".", "1", "enter", "0", ".", "1", "enter")
        await wait_idle(pilot)
        assert inspector(app).low == -0.1
        inspector(app).action_clear_range()
        await wait_idle(pilot)
        for name in ("low", "high"):
            box = app.screen.query_one(f"#range-{name}", Input)
            assert box.value == ""
            assert not box.has_class("-invalid"), name


async def test_range_does_not_silently_follow_to_next_tensor(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SMALL) as pilot:
        await wait_idle(pilot)
        await pilot.press("r", "minus", "0", ".", "1", "enter", "0", ".", "1", "enter")
        await wait_idle(pilot)
        screen = inspector(app)
        first = screen.ref
        assert (screen.low, screen.high) == (-0.1, 0.1) and screen.in_range is not None
        await pilot.press("down")  # the next layer
        await wait_idle(pilot)
        assert screen.ref is not first
        # Cleared, and the boxes say so: no count of a range the user set for another tensor.
        assert (screen.low, screen.high) == (None, None) and screen.in_range is None
        ranges = app.screen.query_one(RangeInputs)
        assert [i.value for i in ranges.query(Input)] == ["", ""]
        assert any("range" in n.message.lower() for n in app._notifications)


async def test_filter_typing_does_not_jump_the_histogram(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        screen = inspector(app)
        await pilot.press("down")  # features.3
        await wait_idle(pilot)
        shown = screen.ref
        assert shown is not None and shown.name.startswith("features.3")
        await pilot.press("slash", "c", "l")  # on the way to "classifier"
        await wait_idle(pilot)
        assert screen.ref is shown  # typing does not pick a layer for the user
        await pilot.press("a", "s", "s", "enter")
        await wait_idle(pilot)
        tree = screen.query_one(LayerTree)
        assert tree.has_focus and tree.current_layer == "classifier"
        assert screen.ref is not None and screen.ref.name.startswith("classifier")


async def test_filter_typo_suggests_close_names(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        await pilot.press("slash", *"clasifer")
        await wait_idle(pilot)
        tree = app.screen.query_one(LayerTree)
        assert "0 match" in str(tree.root.label)
        # Each suggestion on its own line (a long name is not cut off at the tree's edge), and
        # Enter there shows that layer.
        assert [str(c.label) for c in tree.root.children] == ["did you mean classifier?"]
        await pilot.press("enter", "down", "enter")
        await wait_idle(pilot)
        assert tree.current_layer == "classifier"


async def test_filter_escape_keeps_the_users_place(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        await pilot.press("slash", *"features.3", "enter")
        await wait_idle(pilot)
        tree = app.screen.query_one(LayerTree)
        assert tree.current_layer == "features.3"
        await pilot.press("slash", "escape")  # back in the filter, then leave it
        await wait_idle(pilot)
        assert not app.screen.query_one(LayerFilter).has_class("-active")
        assert tree.filter_text == ""
        assert tree.has_focus, app.focused
        assert tree.current_layer == "features.3"
        assert inspector(app).ref is not None
        assert inspector(app).ref.name.startswith("features.3")


def test_snapshot_bins_focused_80x24_log_on(
    model_dir: Path, make_app, snap_compare, monkeypatch
) -> None:
    monkeypatch.chdir(model_dir.parent)

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("l", "b")
        await settle(pilot)

    assert snap_compare(make_app("models/smallcnn.pt"), terminal_size=SMALL, run_before=run_before)


async def test_burst_with_backspace_keeps_every_key(model_dir: Path, make_app) -> None:
    """Item 9: keys arriving in one read (SSH) - b, BSpace, BSpace, 1, 0 - give bins 10.

    Textual's Input handles printable keys at once but Backspace through the app's bindings
    after the key has bubbled up, so later printable keys of the same burst overtake it.
    """
    from textual import events

    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SMALL) as pilot:
        await wait_idle(pilot)
        await pilot.press("b")
        await pilot.pause()
        bins = app.screen.query_one(BinsInput)
        assert bins.has_focus
        await pilot.press("end")
        for key, char in [("backspace", "\x7f"), ("backspace", "\x7f"), ("1", "1"), ("0", "0")]:
            app.post_message(events.Key(key, char))  # no pause between them: one burst
        await pilot.pause()
        await pilot.pause()
        assert bins.value == "10"
        await pilot.press("enter")
        await wait_idle(pilot)
        assert inspector(app).bins == 10


async def test_model_load_does_not_take_the_keyboard_from_a_field(
    model_dir: Path, make_app
) -> None:
    """Keys typed into bins while the model loads (found walking it at 80x24: the load moved the
    keyboard to the tree, and the rest of the typed number went there)."""
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SMALL) as pilot:
        await wait_idle(pilot)
        screen = inspector(app)
        bins = screen.query_one(BinsInput)
        await pilot.press("b")
        assert bins.has_focus
        screen.action_reload()  # a load finishing while the user types
        await wait_idle(pilot)
        assert bins.has_focus
        await pilot.press("escape")
        assert screen.query_one(LayerTree).has_focus


async def burst(pilot, keys: list[tuple[str, str | None]]) -> None:
    """Keys as one read from the terminal delivers them: posted to the app without a pause."""
    from textual import events

    for key, char in keys:
        pilot.app.post_message(events.Key(key, char))
    for _ in range(4):
        await pilot.pause()


async def test_burst_from_the_tree_into_bins(model_dir: Path, make_app) -> None:
    """The issue's burst as typed in the tree: b, BSpace, BSpace, 1, 0 (it gave 'bins: 1')."""
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SMALL) as pilot:
        await wait_idle(pilot)
        assert app.screen.query_one(LayerTree).has_focus
        await burst(pilot, [("b", "b"), ("end", None), ("backspace", "\x7f"),
                            ("backspace", "\x7f"), ("1", "1"), ("0", "0"), ("enter", "\r")])  # fmt: skip
        await wait_idle(pilot)
        assert inspector(app).bins == 10


async def test_burst_from_the_tree_into_the_filter(model_dir: Path, make_app) -> None:
    """'/class' in one read: the letters are the filter's, not the inspector's c (capture)."""
    app = make_app(model_dir / "smallcnn.pt")
    async with app.run_test(size=SMALL) as pilot:
        await wait_idle(pilot)
        await burst(pilot, [("slash", "/"), *[(c, c) for c in "class"]])
        await wait_idle(pilot)
        assert app.screen.query_one(LayerFilter).value == "class"
        assert app.screen.query_one(LayerTree).filter_text == "class"
