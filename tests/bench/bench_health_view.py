"""The Layer health view's heatmap redraw for 100 layers × 10,000 samples, against an empty
``Static`` redrawn in the same run (the floor of any Textual redraw), printed as ms and ratios.

1. Paint: the heatmap's visible lines rendered from a new reading (``show`` + ``render_lines``
   of its region) vs an empty ``Static``'s ``update`` + ``render_lines`` of the same region.
2. Reading: what the worker does off the event loop per redraw (``HealthLog.matrix`` to the
   heatmap's width, ``colour_grid``, ``alert_marks``).
3. Key to screen: ``v``'s action (next quantity) → the new heatmap on screen, in the app at
   120×40 (worker and paint together; the event loop stays free meanwhile).

Goal: the redraw (1 + 2, and 3 end to end) ≤ 100 ms.

    .venv/bin/python tests/bench/bench_health_view.py [--repeats 20] [--quick]

``--quick`` only checks that the script runs (tiny sizes; its figures mean nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "tui"))


def make_run(folder: Path, layers: int, records: int) -> Path:
    """A run folder with ``layers`` × ``records`` samples (seeded) and 50 alerts."""
    import numpy as np

    from layerscope.engine.training.health import DATA_FILE, FIELDS, HealthWriter, record_dtype

    rng = np.random.default_rng(0)
    names = [{"name": f"blocks.{i}.conv", "kind": "Conv2d", "params": []} for i in range(layers)]
    HealthWriter(folder).open(names, [], bins=32, every=10)
    data = np.zeros(records, dtype=record_dtype(layers, 0, 32))
    data["step"] = np.arange(records) * 10
    for name in ("act_std", "grad_norm", "update_ratio", "act_zero_fraction"):
        data["layer"][:, :, FIELDS.index(name)] = np.exp(rng.normal(0, 2, (records, layers)))
    (folder / DATA_FILE).write_bytes(data.tobytes())
    alerts = [
        {"event": "alert", "time": 0.0, "rule": "collapse", "layer": f"blocks.{i}.conv",
         "step": int(rng.integers(0, records)) * 10, "message": "bench"}
        for i in range(0, layers, max(1, layers // 50))
    ]  # fmt: skip
    (folder / "events.jsonl").write_text("".join(json.dumps(a) + "\n" for a in alerts))
    return folder


def median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


async def bench(run: Path, repeats: int) -> dict[str, float]:
    from pilot_helpers import wait_idle
    from textual.app import App, ComposeResult
    from textual.geometry import Region
    from textual.widgets import Static

    from layerscope.engine.training.health import HealthLog
    from layerscope.tui.screens.health import HealthScreen
    from layerscope.tui.widgets.health_heatmap import HeatmapData, colour_grid

    class Bench(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("", id="baseline")

        def on_mount(self) -> None:
            self.push_screen(HealthScreen(run))

    out: dict[str, float] = {}
    app = Bench()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        await pilot.pause(0.2)
        await wait_idle(pilot)
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        hm = screen.heatmap
        region = Region(0, 0, hm.size.width, hm.size.height)
        columns = screen.columns
        log = HealthLog(run)
        log.refresh()

        # 2. The worker's reading.
        reads = []
        data = None
        for _ in range(repeats):
            t = time.perf_counter()
            steps, matrix = log.matrix("act_std", max_columns=columns)
            colours, lo, hi = colour_grid(matrix)
            marks: dict = {}
            for r, c, a in log.alert_marks(max_columns=columns):
                marks.setdefault((r, c), []).append(a)
            data = HeatmapData(log.layers, steps, colours, lo, hi, marks)
            reads.append(time.perf_counter() - t)
        out["read_ms"] = median_ms(reads)

        # 1. Paint vs an empty Static over the same region.
        baseline = app.screen_stack[0].query_one("#baseline", Static)
        paints, floors = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            baseline.update("")
            baseline._render_cache = None  # type: ignore[attr-defined]
            baseline.render_lines(region)
            floors.append(time.perf_counter() - t)
            t = time.perf_counter()
            hm.show(data)
            hm.render_lines(region)
            paints.append(time.perf_counter() - t)
        out["paint_ms"] = median_ms(paints)
        out["static_ms"] = median_ms(floors)

        # 3. Key to screen, end to end.
        ends = []
        for _ in range(max(4, repeats // 4)):
            before = hm.data
            t = time.perf_counter()
            screen.action_next_quantity()  # what v runs (Pilot.press adds its own settling)
            while hm.data is before:
                await asyncio.sleep(0.001)
            hm.render_lines(region)
            ends.append(time.perf_counter() - t)
            await wait_idle(pilot)
        out["key_ms"] = median_ms(ends)
        out["records"] = len(log)
        out["layers"] = len(log.layers)
        out["columns"] = columns
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="tiny sizes: only checks the script runs")
    args = p.parse_args(argv)
    from loguru import logger

    logger.remove()  # the view logs each quantity change; keep the figures readable
    layers, records = (10, 200) if args.quick else (100, 10_000)
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp), layers, records)
        r = asyncio.run(bench(run, 3 if args.quick else args.repeats))
    redraw = r["read_ms"] + r["paint_ms"]
    print(
        f"Layer health heatmap, {r['layers']:.0f} layers × {r['records']:.0f} samples "
        f"→ {r['columns']:.0f} columns at 120×40"
    )
    print(
        f"  paint: {r['paint_ms']:.2f} ms vs empty Static {r['static_ms']:.3f} ms "
        f"(ratio {r['paint_ms'] / max(r['static_ms'], 1e-6):.1f}×)"
    )
    print(f"  reading (worker, off the event loop): {r['read_ms']:.2f} ms")
    print(f"  redraw = reading + paint: {redraw:.2f} ms (goal ≤ 100 ms)")
    print(f"  v (next quantity) → new heatmap on screen: {r['key_ms']:.1f} ms (goal ≤ 100 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
