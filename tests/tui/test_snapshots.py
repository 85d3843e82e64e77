"""Snapshots of the main states, at fixed sizes, from seeded models opened by relative path.

Update them with ``pytest tests/tui/test_snapshots.py --snapshot-update`` after checking the
report (``snapshot_report.html``) shows the intended change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pilot_helpers import settle

WIDE = (120, 40)


@pytest.fixture
def models_cwd(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run from the models' parent and open ``models/...``: no temp paths on screen."""
    monkeypatch.chdir(model_dir.parent)
    return "models"


class TestStart:
    def test_empty_start(self, snap_compare, make_app, models_cwd: str) -> None:
        assert snap_compare(make_app(models_cwd), terminal_size=WIDE, run_before=settle)


class TestFloatModel:
    def test_layer_selected(self, snap_compare, make_app, models_cwd: str) -> None:
        async def run_before(pilot) -> None:
            await settle(pilot)
            await pilot.press("down")  # features.0 → features.3
            await settle(pilot)

        app = make_app(f"{models_cwd}/smallcnn.pt")
        assert snap_compare(app, terminal_size=WIDE, run_before=run_before)

    def test_value_range_highlighted(self, snap_compare, make_app, models_cwd: str) -> None:
        async def run_before(pilot) -> None:
            await settle(pilot)
            await pilot.press("r", *"-0.05", "enter", *"0.1", "enter")
            await settle(pilot)

        app = make_app(f"{models_cwd}/smallcnn.pt")
        assert snap_compare(app, terminal_size=WIDE, run_before=run_before)

    def test_small_terminal(self, snap_compare, make_app, models_cwd: str) -> None:
        app = make_app(f"{models_cwd}/smallcnn.pt")
        assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


class TestQuantized:
    def test_int_view(self, snap_compare, make_app, models_cwd: str) -> None:
        async def run_before(pilot) -> None:
            await settle(pilot)
            await pilot.press("i")
            await settle(pilot)

        app = make_app(f"{models_cwd}/smallcnn_int8.onnx")
        assert snap_compare(app, terminal_size=WIDE, run_before=run_before)


class TestErrors:
    def test_corrupt_file_notification(self, snap_compare, make_app, models_cwd: str) -> None:
        app = make_app(f"{models_cwd}/broken.onnx")
        assert snap_compare(app, terminal_size=WIDE, run_before=settle)
