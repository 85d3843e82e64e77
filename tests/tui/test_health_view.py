"""The Layer health view: a run whose layer collapsed on purpose shows the alert in the log pane
and a mark in the heatmap; the cursor shows the stored values; Enter opens the nearest checkpoint
in the inspector on that layer; a run from a user's own Lightning script works the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from health_runs import COLLAPSED, EVERY, K, collapsed_recipe_run, written_run
from pilot_helpers import settle, wait_idle

from layerscope.engine.training.health import HealthLog
from layerscope.tui.messages import ShowHealth
from layerscope.tui.screens.health import HealthScreen
from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.screens.train import TrainScreen
from layerscope.tui.widgets.health_heatmap import CURSOR, MARK, NAN, ZERO, colour_grid
from layerscope.tui.widgets.run_log import EVENT_STYLES

SIZE = (120, 40)


@pytest.fixture(scope="module")
def collapsed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The engine's own recipe run (16 steps), ``features.3`` dead from step K on."""
    return collapsed_recipe_run(tmp_path_factory.mktemp("runs") / "collapse")


async def open_health(pilot, run_dir: Path) -> HealthScreen:
    pilot.app.post_message(ShowHealth(run_dir))
    await wait_idle(pilot)
    await pilot.pause()
    await wait_idle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, HealthScreen)
    return screen


def engine_log(run_dir: Path) -> HealthLog:
    log = HealthLog(run_dir)
    log.refresh()
    return log


async def test_collapse_is_an_alert_line_and_a_mark_on_that_layer(
    collapsed_run: Path, model_dir: Path, make_app
) -> None:
    log = engine_log(collapsed_run)
    first = next(a for a in log.alerts() if a["rule"] == "collapse")
    assert first["layer"] == COLLAPSED and K <= first["step"] < K + EVERY
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen = await open_health(pilot, collapsed_run)
        # The log pane: one line per alert, the collapse naming the layer and its step.
        lines = screen.alert_log.lines_text
        assert len(lines) == len(log.alerts())
        assert any(f"layer {COLLAPSED} collapsed at step {first['step']}" in t for t in lines)
        # The heatmap: rows in forward order, the mark in that layer's row at that step.
        hm = screen.heatmap
        assert hm.data is not None and hm.data.layers == log.layers
        row = log.layers.index(COLLAPSED)
        column = int(np.flatnonzero(hm.data.steps == first["step"])[0])
        assert first in hm.data.marks[(row, column)]
        assert hm.cell_text(row)[hm.gutter + 1 + column * hm.cell_width] == MARK
        # Before the fault the row has no mark; after it the layer's std is exactly 0.
        assert not [c for (r, c) in hm.data.marks if r == row and hm.data.steps[c] < K]
        assert hm.data.colours[row, column] == ZERO and hm.data.colours[row, 0] < ZERO


async def test_cursor_shows_the_stored_values_and_histogram_of_that_cell(
    collapsed_run: Path, model_dir: Path, make_app
) -> None:
    log = engine_log(collapsed_run)
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen = await open_health(pilot, collapsed_run)
        await pilot.press("f")  # the first alert: features.0's vanishing gradients, or ours
        await pilot.press("home", "down", "right", "right")
        await pilot.pause()
        hm = screen.heatmap
        assert (hm.row, hm.column) >= (0, 2)
        layer, step = log.layers[hm.row], int(hm.data.steps[hm.column])
        shown = screen.detail.detail
        assert shown is not None and shown.layer == layer
        expected = log.cell(layer, step)
        for key in ("act_std", "act_mean", "act_zero_fraction", "grad_norm", "update_ratio"):
            assert shown.values[key] == pytest.approx(expected[key], nan_ok=True)
        counts, edges, _ = log.histogram(layer, step)
        assert np.array_equal(shown.counts, counts) and np.array_equal(shown.edges, edges)
        text = str(screen.detail.text(shown))
        assert f"step {step}" in text and layer in text
        # The cursor glyph sits on the cursor's cell.
        cell = hm.cell_text(hm.row)[hm.gutter + 1 + hm.column * hm.cell_width]
        assert cell in (CURSOR, MARK)


async def test_quantity_key_cycles_and_colours_follow_the_stored_values(
    collapsed_run: Path, model_dir: Path, make_app
) -> None:
    log = engine_log(collapsed_run)
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen = await open_health(pilot, collapsed_run)
        for quantity, title in (
            ("act_zero_fraction", "dead fraction"),
            ("grad_norm", "gradient norm"),
            ("update_ratio", "update ratio"),
            ("act_std", "activation std"),
        ):
            await pilot.press("v")
            await wait_idle(pilot)
            assert screen.quantity == quantity
            assert title in str(screen.query_one("#health-main").border_title)
            _, matrix = log.matrix(quantity, max_columns=screen.columns)
            assert np.array_equal(screen.heatmap.data.colours, colour_grid(matrix)[0])


async def test_enter_opens_the_nearest_checkpoint_in_the_inspector_on_that_layer(
    collapsed_run: Path, model_dir: Path, make_app
) -> None:
    log = engine_log(collapsed_run)
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen = await open_health(pilot, collapsed_run)
        hm = screen.heatmap
        hm.set_cursor(log.layers.index(COLLAPSED), 0)
        await pilot.press("enter")
        await wait_idle(pilot)
        await pilot.pause()
        inspector = app.screen
        assert isinstance(inspector, InspectorScreen)
        assert inspector.model is not None and inspector.model.path == collapsed_run / "last.ckpt"
        assert inspector.tree.current_layer == COLLAPSED


async def test_reached_from_the_runs_screen_and_the_train_view(
    collapsed_run: Path, model_dir: Path, make_app
) -> None:
    app = make_app(model_dir)
    app.runs_dir = collapsed_run.parent
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("R")
        await wait_idle(pilot)
        await pilot.press("h")
        await wait_idle(pilot)
        assert isinstance(app.screen, HealthScreen) and app.screen.run_dir == collapsed_run
        await pilot.press("escape", "enter")  # back to Runs, Enter follows the run in Train
        await wait_idle(pilot)
        train = app.screen
        assert isinstance(train, TrainScreen)
        # The Train view's log pane prints the run's alerts too, in red.
        alert = next(e for e in train.log_pane.entries if "alert collapse" in e[2])
        assert f"layer {COLLAPSED} collapsed" in alert[2] and alert[3] == EVENT_STYLES["alert"]
        await pilot.press("ctrl+g")
        await wait_idle(pilot)
        assert isinstance(app.screen, HealthScreen) and app.screen.run_dir == collapsed_run


async def test_own_lightning_script_run_shows_its_collapse(
    tmp_path: Path, model_dir: Path, make_app
) -> None:
    """A hand-written LightningModule with ``layerscope.engine.training.hook.callbacks`` in its Trainer."""
    import pytorch_lightning as pl
    import torch
    from torch import nn

    from layerscope.engine.training.hook import callbacks

    class Net(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
            self.head = nn.Linear(32, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(x))

        def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
            x, y = batch
            return nn.functional.cross_entropy(self(x), y)

        def configure_optimizers(self):  # noqa: ANN201
            return torch.optim.SGD(self.parameters(), lr=0.05)

    torch.manual_seed(0)
    net = Net()
    net.body[2].register_forward_hook(lambda m, a, out: out * 0 if net.global_step >= K else out)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(320, 16, generator=g)
    data = torch.utils.data.TensorDataset(x, x[:, :4].argmax(1))
    run = tmp_path / "own"
    cbs = callbacks(run_dir=run, artifacts=False, checkpoints=False, health={"every": EVERY})
    pl.Trainer(
        max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path,
        callbacks=cbs,
    ).fit(net, torch.utils.data.DataLoader(data, batch_size=16))  # fmt: skip
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen = await open_health(pilot, run)
        assert any("layer body.2 collapsed" in t for t in screen.alert_log.lines_text)
        hm = screen.heatmap
        row = hm.data.layers.index("body.2")
        assert any(r == row for r, _ in hm.data.marks)
        await pilot.press("enter")  # no checkpoint: a warning, and the view stays
        await wait_idle(pilot)
        assert isinstance(app.screen, HealthScreen)


async def test_live_run_picks_up_new_records_and_alerts(
    tmp_path: Path, model_dir: Path, make_app
) -> None:
    run = written_run(tmp_path / "live", records=10, alert_at=None)
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen = await open_health(pilot, run)
        assert screen.records == 10 and screen.heatmap.data.marks == {}
        written_run(run, records=60, alert_at=(2, 100))  # the run went on (same layout)
        screen.action_refresh()
        await wait_idle(pilot)
        assert screen.records == 60
        assert screen.heatmap.column == screen.heatmap.data.columns - 1  # follows the newest
        assert any("block2.conv collapsed at step 100" in t for t in screen.alert_log.lines_text)


async def test_downsampled_for_display_never_in_the_store(
    tmp_path: Path, model_dir: Path, make_app
) -> None:
    from layerscope.engine.training.health import DATA_FILE, FIELDS, HealthWriter, record_dtype

    layers = [{"name": f"l{i}", "kind": "Conv2d", "params": []} for i in range(100)]
    HealthWriter(tmp_path).open(layers, [], bins=8, every=1)
    big = np.zeros(10_000, dtype=record_dtype(100, 0, 8))
    big["step"] = np.arange(10_000)
    big["layer"][:, :, FIELDS.index("act_std")] = 1.0
    big["layer"][5_000, 42, FIELDS.index("act_std")] = 1e-6  # one bad sample in the middle
    (tmp_path / DATA_FILE).write_bytes(big.tobytes())
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen = await open_health(pilot, tmp_path)
        hm = screen.heatmap
        assert hm.data.colours.shape == (100, screen.columns) and screen.columns < 120
        bad = int(np.flatnonzero(hm.data.colours[42] == 0)[0])  # the low end of the scale
        hm.set_cursor(42, bad)
        await pilot.pause()
        shown = screen.detail.detail
        assert shown.values["act_std"] == pytest.approx(1e-6) and shown.values["step"] == 5_000
        assert shown.samples > 1 and "min" in shown.shown
        assert screen._log.values("act_std").shape == (100, 10_000)
        assert hm.top > 0  # the view scrolled to row 42


async def test_no_health_and_a_damaged_header_say_so(
    tmp_path: Path, model_dir: Path, make_app
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.yaml").write_text("name: x\n")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "layer_health.json").write_text('{"schema": "layerscope.layer-health", "schema_')
    app = make_app(model_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen = await open_health(pilot, empty)
        assert "has no layer health yet" in screen.heatmap.hint
        await pilot.press("escape")
        screen = await open_health(pilot, damaged)
        assert "not a layer-health header" in screen.heatmap.hint
        assert "\n" not in screen.heatmap.hint


def test_colour_grid_is_a_log_scale_with_zero_and_nan_apart() -> None:
    m = np.array([[1e-3, 1e-2, 1e-1, 1.0], [0.0, np.nan, 1.0, 1e-3]], dtype=np.float32)
    colours, lo, hi = colour_grid(m)
    assert lo == pytest.approx(1e-3) and hi == pytest.approx(1.0)
    # Equal steps in log10 are equal steps in colour.
    assert colours[0].tolist() == [0, 3, 6, 9]
    assert colours[1, 0] == ZERO and colours[1, 1] == NAN


class TestHealthSnapshots:
    @pytest.fixture
    def run(self, tmp_path: Path) -> Path:
        return written_run(tmp_path / "snap")

    async def _open(self, pilot, run: Path) -> None:
        await open_health(pilot, run)
        await pilot.press("f", "right")
        await settle(pilot)

    def test_wide(self, snap_compare, make_app, model_dir: Path, run: Path) -> None:
        app = make_app(model_dir)
        assert snap_compare(app, terminal_size=(120, 40), run_before=lambda p: self._open(p, run))

    def test_small(self, snap_compare, make_app, model_dir: Path, run: Path) -> None:
        app = make_app(model_dir)
        assert snap_compare(app, terminal_size=(80, 24), run_before=lambda p: self._open(p, run))
