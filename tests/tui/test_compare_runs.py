"""Compare runs in the app: mark runs on the Runs screen (space), open the compare view (d or the
palette) and see their curves overlaid and their hyperparameters side by side, differences lit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fake_runs import T0, make_run, started, wait_for
from pilot_helpers import settle, wait_idle
from textual.pilot import Pilot

from layerscope.tui.screens.runs import RunsScreen
from layerscope.tui.widgets.run_table import RunTable

# An optimizer sweep on one recipe: (name, optimizer, lr, val_loss per epoch, val_acc per epoch).
SWEEP = (
    ("sgd", "sgd", 0.05, [1.9, 1.4, 1.1], [0.41, 0.55, 0.63]),
    ("adam", "adam", 0.003, [1.2, 0.7, 0.5], [0.62, 0.79, 0.85]),
    ("adamw", "adamw", 0.003, [1.1, 0.6, 0.45], [0.66, 0.81, 0.88]),
)
RECIPE = """\
name: {name}
model: {{arch: resnet8, kwargs: {{num_classes: 10}}}}
data: {{kind: digits, batch_size: 64}}
optimizer: {{name: {opt}, lr: {lr}, weight_decay: 0.0}}
trainer: {{max_epochs: 3, accelerator: cpu}}
"""


def sweep_run(root: Path, second: int, name: str, opt: str, lr: float, losses, accs) -> Path:
    events = [{**started(max_epochs=3), "task": "classification", "monitor": "val_acc",
               "mode": "max"}]  # fmt: skip
    history = []
    for epoch, (loss, acc) in enumerate(zip(losses, accs, strict=True)):
        metrics = {"train_loss": loss + 0.1, "val_loss": loss, "val_acc": acc}
        events.append({"event": "epoch", "time": T0 + epoch + 1, "epoch": epoch, "step": 4 * epoch,
                       "metrics": metrics})  # fmt: skip
        history.append({"epoch": epoch, "step": 4 * epoch, "lr": lr, **metrics})
    events.append({"event": "finished", "time": T0 + 9, "epochs_done": 3, "metrics": {}})
    run_dir = make_run(root, name, events, second=second)
    (run_dir / "config.yaml").write_text(RECIPE.format(name=name, opt=opt, lr=lr))
    (run_dir / "history.json").write_text(json.dumps(history))
    return run_dir


@pytest.fixture
def sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAYERSCOPE_RUNS", "runs")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = Path("runs")
    for second, spec in enumerate(SWEEP):
        sweep_run(root, second, *spec)
    return root


async def open_runs(pilot: Pilot) -> RunsScreen:
    await pilot.press("R")
    await wait_for(pilot, lambda: pilot.app.screen.query_one(RunTable).row_count == len(SWEEP))
    assert isinstance(pilot.app.screen, RunsScreen)
    return pilot.app.screen


async def mark_all(pilot: Pilot) -> None:
    """Space on each row (newest first: adamw, adam, sgd)."""
    for i in range(len(SWEEP)):
        await pilot.press("space")
        if i < len(SWEEP) - 1:
            await pilot.press("down")


def compare_screen(app):
    from layerscope.tui.screens.run_compare import RunCompareScreen

    assert isinstance(app.screen, RunCompareScreen), type(app.screen)
    return app.screen


async def test_space_marks_runs_and_marks_survive_a_refresh(sweep, model_dir, make_app) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        table = screen.query_one(RunTable)
        await pilot.press("space")  # adamw (newest) marked; the cursor stays on it
        assert [Path(p).name for p in table.marked] == ["20261125-094602-adamw"]
        assert str(table.get_row_at(0)[0]).startswith("✓ ")
        assert not str(table.get_row_at(1)[0]).startswith("✓")
        assert "1 marked" in str(table.border_subtitle)
        assert screen.check_action("compare_runs", ()) is False  # one run: nothing to compare
        screen.action_refresh()  # the list is read again every few seconds
        await wait_idle(pilot)
        assert str(table.get_row_at(0)[0]).startswith("✓ ")
        await pilot.press("space")  # unmarks
        assert table.marked == [] and not str(table.get_row_at(0)[0]).startswith("✓")


async def test_d_compares_marked_runs_curves_and_differing_params(
    sweep, model_dir, make_app
) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        runs = await open_runs(pilot)
        await mark_all(pilot)
        assert runs.check_action("compare_runs", ()) is True
        await pilot.press("d")
        await wait_for(pilot, lambda: getattr(app.screen, "comparison", None) is not None)
        await wait_idle(pilot)
        screen = compare_screen(app)
        # marked order is the table's (newest first); one colour each, a legend naming each run
        assert screen.labels == ["adamw", "adam", "sgd"]
        loss, metric = screen.loss_plot, screen.metric_plot
        assert loss.metric == "val_loss" and metric.metric == "val_acc"
        assert [name for name, _ in metric.series] == ["adamw", "adam", "sgd"]
        assert dict(metric.series)["sgd"] == [(1, 0.41), (2, 0.55), (3, 0.63)]  # epochs from 1
        assert len({c for c in metric.colours}) == 3
        legend = str(screen.query_one("#compare-legend").render())
        assert all(name in legend for name in ("adamw", "adam", "sgd"))
        # hyperparameters: the differing ones first and marked, the same ones after
        params = screen.params
        differing = [params.key_of(i) for i in range(params.row_count) if params.differs(i)]
        assert differing == ["best val_acc", "optimizer.name", "optimizer.lr"]
        assert params.values_of(1) == ["adamw", "adam", "sgd"]  # optimizer.name per run
        assert "trainer.max_epochs" in [params.key_of(i) for i in range(params.row_count)]
        await pilot.press("f")  # differences only
        assert [params.key_of(i) for i in range(params.row_count)] == differing
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))


async def test_compare_needs_two_marks_and_is_in_the_palette(sweep, model_dir, make_app) -> None:
    from layerscope.tui.commands import LayerscopeCommands

    app = make_app(model_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs(pilot)
        await pilot.press("d")  # nothing marked: nothing opens
        await pilot.pause()
        assert app.screen is screen
        titles = [t for t, *_ in LayerscopeCommands(screen, None)._available()]  # type: ignore[arg-type]
        assert "runs: mark for compare" in titles and "runs: compare marked" not in titles
        await mark_all(pilot)
        titles = [t for t, *_ in LayerscopeCommands(screen, None)._available()]  # type: ignore[arg-type]
        assert "runs: compare marked" in titles


async def test_a_run_with_a_broken_config_is_a_notification(sweep, model_dir, make_app) -> None:
    next(sweep.glob("*-sgd")).joinpath("config.yaml").write_text("a: [unclosed\n")
    app = make_app(model_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_runs(pilot)
        await mark_all(pilot)
        await pilot.press("d")
        await wait_idle(pilot)
        messages = [n.message for n in app._notifications]
        assert any("cannot read" in m and "config.yaml" in m for m in messages), messages
        assert "\n" not in messages[-1]
        assert compare_screen(app).following is False  # said once, not every few seconds


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_compare_view(snap_compare, sweep, model_dir, make_app, size) -> None:
    async def run_before(pilot: Pilot) -> None:
        await open_runs(pilot)
        await mark_all(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: getattr(pilot.app.screen, "comparison", None) is not None)
        await settle(pilot)

    assert snap_compare(make_app(model_dir), terminal_size=size, run_before=run_before)


async def test_the_view_follows_a_run_that_is_still_training(sweep, model_dir, make_app) -> None:
    app = make_app(model_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_runs(pilot)
        await mark_all(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: getattr(app.screen, "comparison", None) is not None)
        screen = compare_screen(app)
        params = screen.params
        params.move_cursor(row=2)
        history_file = next(sweep.glob("*-sgd")) / "history.json"
        history = json.loads(history_file.read_text())
        history.append({**history[-1], "epoch": 3, "val_loss": 0.9, "val_acc": 0.7})
        history_file.write_text(json.dumps(history))  # a fourth epoch, as a live run writes it
        await wait_for(pilot, lambda: len(dict(screen.metric_plot.series)["sgd"]) == 4)
        assert dict(screen.metric_plot.series)["sgd"][-1] == (4, 0.7)
        assert params.cursor_row == 2  # the table was not rebuilt under the user's cursor
