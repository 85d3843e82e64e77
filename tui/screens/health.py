"""The Layer health view of one run, live or finished: a heatmap of layers × steps for one
quantity (``v`` cycles them), the exact values and histogram under the cursor, the run's alerts.

Everything is read through ``layerscope.engine.training.health.HealthLog`` in a worker: refreshing the file,
downsampling to the heatmap's width (display only; the stored data is never touched) and mapping
values to colours. The UI thread only draws, and reads one cell when the cursor moves. While the
screen shows, the worker runs again every ``REFRESH_S`` and picks up what a live run appended.
Enter opens the checkpoint nearest the cursor's step in the inspector, on the cursor's layer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, get_current_worker

from layerscope.engine.errors import LayerscopeError
from layerscope.tui.keys import HEALTH_KEYS
from layerscope.tui.log import logger
from layerscope.tui.messages import OpenInInspector
from layerscope.tui.widgets.health_detail import CellDetail, HealthDetail
from layerscope.tui.widgets.health_heatmap import HealthHeatmap, HeatmapData, colour_grid, legend
from layerscope.tui.widgets.run_log import RunLog
from layerscope.tui.workers import report_failure

REFRESH_S = 2.0
# What q cycles through: (stored field, what the view calls it).
QUANTITIES = (
    ("act_std", "activation std"),
    ("act_zero_fraction", "dead fraction"),
    ("grad_norm", "gradient norm"),
    ("update_ratio", "update ratio"),
)


@dataclass
class HealthLoaded(Message):
    """The worker's reading of the run: the heatmap, the alerts, and where columns start."""

    run_dir: Path
    quantity: str
    data: HeatmapData | None
    starts: np.ndarray  # each column's first record
    records: int
    kinds: list[str] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    header: dict[str, Any] = field(default_factory=dict)
    hint: str = ""


@dataclass
class CheckpointFound(Message):
    """Enter on a cell: the checkpoint nearest its step (``None``: the run has none)."""

    layer: str
    step: int
    found: tuple[Path, int] | None


class HealthScreen(Screen):
    """Heatmap (left), the cell under the cursor (right), the run's alerts (below)."""

    BINDINGS = HEALTH_KEYS
    PALETTE = [  # (title, action, help) for layerscope.tui.commands; check_action filters them
        ("health: next quantity", "next_quantity", "Activation std, dead fraction, gradient norm, update ratio (v)"),
        ("health: open in inspector", "open_cell", "The checkpoint nearest the cursor's step, on its layer (Enter)"),
        ("health: first alert", "first_alert", "Move the cursor to the run's first alert (f)"),
        ("health: refresh", "refresh", "Read the health file again (r)"),
        ("health: back", "back", "Leave the Layer health view (Escape)"),
    ]  # fmt: skip
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    DEFAULT_CSS = """
    HealthScreen #health-body {
        height: 1fr;
    }
    HealthScreen #health-main {
        width: 1fr;
        border: round $panel;
        border-title-color: $text-muted;
    }
    HealthScreen #health-main:focus-within {
        border: round $accent;
        border-title-color: $accent;
    }
    HealthScreen #health-legend {
        height: 1;
    }
    HealthScreen HealthDetail {
        width: 40;
        border: round $panel;
        border-title-color: $text-muted;
    }
    HealthScreen.-narrow HealthDetail {
        width: 32;
    }
    HealthScreen #health-alerts {
        height: 8;
        min-height: 3;
    }
    HealthScreen.-short #health-alerts {
        height: 5;
    }
    """

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.quantity = QUANTITIES[0][0]
        self.columns = 0  # cells that fit; 0 until the heatmap has a size
        self.starts = np.zeros(0, dtype=np.int64)
        self.records = 0
        self.kinds: list[str] = []
        self.alerts: list[dict[str, Any]] = []
        self._log: Any = (
            None  # layerscope.engine.training.health.HealthLog, made in the first worker
        )
        # One refresh at a time. Readers take no lock: records are only appended (a resumed
        # run's cut shows as an IndexError, and the next reading redraws).
        self._lock = threading.Lock()
        self._events_size = -1
        self._shown_alerts = 0
        self._stale = True  # the quantity or width changed: redraw even without new records

    def compose(self) -> ComposeResult:
        yield Header(icon="◈")
        with Horizontal(id="health-body"):
            with Vertical(id="health-main"):
                yield Static(id="health-legend")
                yield HealthHeatmap(id="heatmap")
            yield HealthDetail(id="cell")
        yield RunLog(id="health-alerts")
        yield Footer()

    @property
    def heatmap(self) -> HealthHeatmap:
        return self.query_one(HealthHeatmap)

    @property
    def detail(self) -> HealthDetail:
        return self.query_one(HealthDetail)

    @property
    def alert_log(self) -> RunLog:  # the run's alerts, one line each
        return self.query_one("#health-alerts", RunLog)

    @property
    def quantity_label(self) -> str:
        return dict(QUANTITIES)[self.quantity]

    def on_mount(self) -> None:
        self.sub_title = f"Layer health · {self.run_dir.name}"
        self.query_one("#health-main").border_title = f"{self.quantity_label} · layers × steps"
        self.detail.border_title = "Cell"
        self.alert_log.reset("Alerts")
        self.heatmap.hint = "Reading the run's layer health…"
        self.heatmap.focus()
        self._timer = self.set_interval(REFRESH_S, self.load)

    def on_resize(self) -> None:
        self.query_one(Footer).compact = self.size.width < 100

    def on_screen_suspend(self) -> None:
        self._timer.pause()

    def on_screen_resume(self) -> None:
        self._timer.resume()
        self.load()

    # -- reading (a worker) --------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="health", exit_on_error=False, description="health")
    def load(self) -> None:
        """Refresh the health file and, if anything changed, post the heatmap for this width."""
        from layerscope.engine.training.health import HealthLog
        from layerscope.engine.training.paths import EVENTS_FILE

        worker = get_current_worker()
        columns, quantity = self.columns, self.quantity
        if columns < 1:
            return  # no size yet: the first Resized brings us back
        if self._log is None:
            self._log = HealthLog(self.run_dir)
        log = self._log
        with self._lock:
            new = log.refresh()
        try:
            events_size = (self.run_dir / EVENTS_FILE).stat().st_size
        except OSError:
            events_size = 0
        changed = new or events_size != self._events_size or self._stale
        if not changed or worker.is_cancelled:
            return
        self._stale, self._events_size = False, events_size
        if not log.available:
            hint = (
                f"{self.run_dir.name} has no layer health yet: the run writes it from its first "
                "step (a run with health.enabled: false never does)."
            )
            self.post_message(HealthLoaded(self.run_dir, quantity, None, np.zeros(0), 0, hint=hint))
            return
        with self._lock:  # a superseded worker may still be refreshing
            n = len(log)
            steps, matrix = log.matrix(quantity, max_columns=columns)
            marks: dict[tuple[int, int], list[dict[str, Any]]] = {}
            for row, col, alert in log.alert_marks(max_columns=columns):
                marks.setdefault((row, col), []).append(alert)
            alerts = log.alerts()
        layers, kinds, header = log.layers, log.kinds, dict(log.header or {})
        starts = (np.arange(columns) * n) // columns if n > columns else np.arange(n)
        colours, lo, hi = colour_grid(matrix)
        data = HeatmapData(layers, steps, colours, lo, hi, marks)
        hint = "" if n else "No samples yet: the run writes one every few steps."
        if not worker.is_cancelled:
            self.post_message(
                HealthLoaded(
                    self.run_dir, quantity, data, starts, n, kinds, alerts, header, hint=hint
                )
            )

    @work(thread=True, exclusive=True, group="open", exit_on_error=False, description="checkpoint")
    def find_checkpoint(self, layer: str, step: int) -> None:
        from layerscope.engine.training.health import nearest_checkpoint

        self.post_message(CheckpointFound(layer, step, nearest_checkpoint(self.run_dir, step)))

    # -- results -------------------------------------------------------------------------------
    @on(HealthLoaded)
    def health_loaded(self, message: HealthLoaded) -> None:
        if message.quantity != self.quantity:
            return  # read for the quantity the user has since left
        self.starts, self.records, self.kinds = message.starts, message.records, message.kinds
        data = message.data
        self.heatmap.show(data, message.hint)
        legend_line = Text(no_wrap=True, overflow="ellipsis")
        if data is not None:
            for text, style in legend(self.quantity_label, data.lo, data.hi):
                legend_line.append(text, style)
        self.query_one("#health-legend", Static).update(legend_line)
        about = f"{self.records} samples · every {message.header.get('every', '?')} steps"
        if (ranks := message.header.get("world_size", 1)) and ranks > 1:
            about += f" · rank 0 of {ranks}"
        self.sub_title = f"Layer health · {self.run_dir.name} · {about}"
        # After the layout: a log written before it knows its width wraps at 78 columns.
        self.call_after_refresh(self._add_alerts, message.alerts)
        if data is None or not data.columns:
            self.detail.show(None, message.hint)
        else:
            self.show_cell()
        self.refresh_bindings()

    def _add_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """New alerts become lines of the alert pane (and of the app's log)."""
        from layerscope.engine.training.events import format_event

        self.alerts = alerts
        # RichLog measures lines against the console (80 columns in a headless test): lay them
        # out at the pane's own width instead.
        self.alert_log.min_width = max(20, self.alert_log.scrollable_content_region.width)
        for alert in alerts[self._shown_alerts :]:
            line = format_event(alert)
            self.alert_log.add_event_line(line, "alert", float(alert.get("time", 0.0)))
            logger.warning("{}: {}", self.run_dir.name, alert.get("message", line))
        self._shown_alerts = max(self._shown_alerts, len(alerts))
        self.alert_log.border_title = f"Alerts ({len(alerts)})" if alerts else "Alerts (none)"

    @on(HealthHeatmap.Resized)
    def heatmap_resized(self, message: HealthHeatmap.Resized) -> None:
        self.columns = message.columns
        self._stale = True
        self.load()

    @on(HealthHeatmap.CursorMoved)
    def cursor_moved(self) -> None:
        self.show_cell()

    def _cell_records(self, column: int) -> tuple[int, int]:
        """The records ``[first, end)`` merged into heatmap column ``column``."""
        if not len(self.starts):
            return 0, 0
        first = int(self.starts[column])
        end = int(self.starts[column + 1]) if column + 1 < len(self.starts) else self.records
        return first, max(end, first + 1)

    def show_cell(self) -> None:
        """The cursor's cell: the sample whose value the colour shows, read from the log."""
        from layerscope.engine.training.health import QUANTITIES as REDUCE

        hm, log = self.heatmap, self._log
        data = hm.data
        if data is None or log is None or not data.columns or not data.layers:
            return
        row, column = hm.row, min(hm.column, data.columns - 1)
        first, end = self._cell_records(column)
        how = REDUCE.get(self.quantity, "mean")
        steps = log.steps
        pick, shown = first, ""
        if end - first > 1:
            part = log.values(self.quantity)[row, first:end]
            if how in ("min", "max") and not np.all(np.isnan(part)):
                pick = first + int(np.nanargmin(part) if how == "min" else np.nanargmax(part))
                shown = f"showing its {how} ({self.quantity_label})"
        try:
            step = int(steps[pick])
            values = log.cell(row, step)
            counts, edges, _ = log.histogram(row, step)
        except (LayerscopeError, IndexError):
            return  # a resumed run cut the file: the next reading redraws
        last = int(steps[min(end, len(steps)) - 1])
        alerts = data.marks.get((row, column), [])
        kind = self.kinds[row] if row < len(self.kinds) else ""
        self.detail.show(
            CellDetail(
                data.layers[row], kind, values, counts, edges, int(steps[first]), last,
                end - first, shown, alerts,
            )
        )  # fmt: skip

    @on(CheckpointFound)
    def checkpoint_found(self, message: CheckpointFound) -> None:
        if message.found is None:
            msg = f"{self.run_dir.name} has no checkpoint yet (one is written at each epoch end)."
            self.notify(msg, title="Nothing to open", severity="warning")
            logger.warning("{}", msg)
            return
        path, step = message.found
        logger.info(
            "Opening {} (step {}, nearest step {}) on layer {}",
            path.name, step, message.step, message.layer,
        )  # fmt: skip
        self.post_message(OpenInInspector(path, layer=message.layer))

    # -- errors --------------------------------------------------------------------------------
    @on(Worker.StateChanged)
    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        failure = report_failure(self, event)
        if failure is not None and event.worker.group == "health":
            self._timer.pause()  # a damaged file stays damaged: say it once
            self.heatmap.show(None, f"{failure.title}: {failure.text}")
            self.detail.show(None, failure.text)

    # -- actions -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        data = self.heatmap.data if self.is_mounted else None
        if action == "open_cell":
            return data is not None and data.columns > 0
        if action == "first_alert":
            return data is not None and bool(data.marks)
        return True

    def action_next_quantity(self) -> None:
        names = [q for q, _ in QUANTITIES]
        self.quantity = names[(names.index(self.quantity) + 1) % len(names)]
        self.query_one("#health-main").border_title = f"{self.quantity_label} · layers × steps"
        logger.info("Layer health: {}", self.quantity_label)
        self._stale = True
        self.load()

    def action_open_cell(self) -> None:
        hm = self.heatmap
        data = hm.data
        if data is None or not data.columns or self._log is None:
            return
        first, _ = self._cell_records(hm.column)
        step = int(self._log.steps[first]) if len(self._log) else 0
        detail = self.detail.detail
        if detail is not None and detail.layer == data.layers[hm.row]:
            step = int(detail.values.get("step", step))
        self.find_checkpoint(data.layers[hm.row], step)

    def action_first_alert(self) -> None:
        data = self.heatmap.data
        if data is None or not data.marks:
            return
        row, column = min(data.marks, key=lambda rc: (rc[1], rc[0]))
        self.heatmap.set_cursor(row, column)

    def action_refresh(self) -> None:
        self._stale = True
        self._timer.resume()
        self.load()

    def action_back(self) -> None:
        self.app.pop_screen()
