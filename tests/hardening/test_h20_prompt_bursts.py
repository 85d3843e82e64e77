"""Issue 17, item 9 in the app's prompts: keys that arrive in one read (a burst over SSH) with
Backspace among them reach the field in the order typed.

Textual's ``Input`` types a printable key at once but runs Backspace through the bindings after
the key has bubbled up, so later keys of the same burst overtook it; ``OrderedInput`` keeps the
order. Each prompt is pushed on a bare host app: no model is needed to type into it.
"""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.app import App
from textual.widgets import Input

from layerscope.tui.screens.open_path import OpenPath
from layerscope.tui.screens.report_prompt import ReportPrompt
from layerscope.tui.widgets.quant_inputs import QuantInputs


async def send_burst(pilot, keys: list[tuple[str, str | None]]) -> None:
    """Keys as one terminal read delivers them: posted to the app without a pause."""
    for key, char in keys:
        pilot.app.post_message(events.Key(key, char))
    for _ in range(4):
        await pilot.pause()


BACK_TWICE_THEN_XY = [("end", None), ("backspace", "\x7f"), ("backspace", "\x7f"),
                      ("x", "x"), ("y", "y")]  # fmt: skip


async def test_open_path_prompt_keeps_a_burst_in_order() -> None:
    chosen: list[Path | None] = []

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(OpenPath("models/ab"), chosen.append)

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        field = app.screen.query_one("#path", Input)
        assert field.has_focus
        await send_burst(pilot, [*BACK_TWICE_THEN_XY, ("enter", "\r")])
        await pilot.pause()
    assert chosen == [Path("models/xy")]


async def test_report_prompt_keeps_a_burst_in_order(tmp_path: Path) -> None:
    class Host(App[None]):
        def on_mount(self) -> None:
            fields = [("report", tmp_path / "ab.json")]
            self.push_screen(ReportPrompt("Save the report", fields, must_exist=False))

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        field = app.screen.query_one("#path-0", Input)
        assert field.has_focus
        await send_burst(pilot, [("end", None), ("backspace", "\x7f"), ("backspace", "\x7f"),
                                 ("backspace", "\x7f"), ("backspace", "\x7f"), ("o", "o"),
                                 ("n", "n")])  # fmt: skip
        assert field.value == str(tmp_path / "ab.json")[:-4] + "on"


async def test_quant_inputs_keep_a_burst_in_order() -> None:
    class Host(App[None]):
        def compose(self):
            yield QuantInputs("random", 20.0, id="quant-inputs")

        def on_mount(self) -> None:
            self.query_one(QuantInputs).input.focus()

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await send_burst(pilot, [("end", None), *[("backspace", "\x7f")] * 6,
                                 *[(c, c) for c in "digits"]])  # fmt: skip
        assert app.query_one(QuantInputs).input.value == "digits"


async def test_capture_bar_field_keeps_a_burst_in_order() -> None:
    from layerscope.tui.widgets.input_source import InputSource

    class Host(App[None]):
        def compose(self):
            yield InputSource(id="source")

        def on_mount(self) -> None:
            self.query_one(InputSource).field.focus()

    app = Host()
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause()
        field = app.query_one(InputSource).field
        assert field.has_focus and field.value == "0"
        await send_burst(pilot, [("end", None), ("backspace", "\x7f"), ("1", "1"), ("2", "2")])
        assert field.value == "12"
