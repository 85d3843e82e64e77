"""At 80 columns the footer keeps "q Quit" whole on the inspector, in the weights view and after
a capture (with "c Capture…" and "a Weights/Acts" shown, "q Quit" was cut to "q Q")."""

from __future__ import annotations

import pytest
from pilot_helpers import settle
from textual.widgets._footer import FooterKey


def shown_keys(app) -> list[str]:  # noqa: ANN001 - the pilot's app
    """The footer's key descriptions drawn whole: left of the palette key docked on the right
    (the footer clips what runs under it)."""
    keys = list(app.screen.query(FooterKey))
    palette = next(k for k in keys if k.description == "palette")
    return [k.description for k in keys if k is not palette and k.region.right <= palette.region.x]


@pytest.mark.parametrize("capture", [False, True], ids=["weights", "activations"])
async def test_quit_fits_the_footer_at_80_columns(make_app, model_dir, capture: bool) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        if capture:
            await pilot.press("c", "3", "enter")
            await settle(pilot)
            assert "Weights/Acts" in shown_keys(app)
        shown = shown_keys(app)
        assert "Quit" in shown and "Capture…" in shown
