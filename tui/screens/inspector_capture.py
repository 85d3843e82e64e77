"""The inspector's activation work: the capture bar (``InputSource``) asks, this part of the
screen runs the workers and answers.

A mixin of ``InspectorScreen``, kept apart so each module stays readable: the capture and the
per-activation re-runs (``layerscope.tui.activations``, off the UI thread), saving a capture as a report,
Escape for a running capture, and the keys and palette commands of the activations bar. Its
handlers use Textual's ``on_<message>`` names (a mixin's ``@on`` handlers are not collected).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.worker import Worker, WorkerState, get_current_worker

from layerscope.tui.log import logger
from layerscope.tui.messages import (
    ActivationReady,
    ActivationsCaptured,
    ActivationViewChanged,
    CaptureProgress,
    CompareReports,
)
from layerscope.tui.screens.inspector_predict import predict_lines
from layerscope.tui.workers import report_failure, was_cancelled

if TYPE_CHECKING:  # the widgets are imported where used: they mount after the first frame
    from textual.screen import Screen
    from textual.widget import Widget

    from layerscope.engine.model import Model
    from layerscope.engine.stats import TensorStats
    from layerscope.tui.activations import ActivationSession
    from layerscope.tui.widgets.input_source import InputSource
    from layerscope.tui.widgets.layer_tree import LayerTree
    from layerscope.tui.widgets.tensor_view import TensorView

    _Host = Screen
else:
    _Host = object

CAPTURE_GROUPS = ("capture", "activation")  # what Escape cancels and the spinner stands for
CAPTURE_ACTIONS = {  # decided by the capture bar, which knows what was captured
    "capture", "run_capture", "toggle_activations", "save_report", "compare_reports",
    "compare_capture", "next_output",
}  # fmt: skip


def _gradients(target: str | None) -> dict[str, object]:
    """The capture's gradient arguments for the bar's target field (empty: activations only)."""
    if target is None:
        return {}
    from layerscope.engine.capture.gradients import parse_target

    return {"gradients": True, "target": parse_target(target, "gradient target")}


class CaptureWork(_Host):
    """Workers, handlers and actions of the inspector's activations bar."""

    if TYPE_CHECKING:  # provided by InspectorScreen
        model: Model | None
        bins: int
        low: float | None
        high: float | None
        view: str
        stats: TensorStats | None
        in_range: int | None
        tree: LayerTree
        tensor_view: TensorView

        def request_stats(self) -> None: ...
        def sync_keys(self) -> None: ...
        def _focus_control(self, widget: Widget) -> None: ...

    _capture_cancel: threading.Event | None = None  # the running capture's
    _fetch_cancel: threading.Event | None = None  # the running re-run's
    _capture_current: Worker[None] | None = None  # the latest capture or re-run

    @property
    def capture_bar(self) -> InputSource:
        from layerscope.tui.widgets.input_source import InputSource

        return self.query_one(InputSource)

    @property
    def capture_busy(self) -> bool:
        """Whether a capture (or a re-run for one activation) is running."""
        return any(w.group in CAPTURE_GROUPS and w.is_running for w in self.workers)

    # -- capture -------------------------------------------------------------------------------
    def on_input_source_capture_requested(self, message: InputSource.CaptureRequested) -> None:
        from layerscope.tui.widgets.bins_input import BinsInput

        message.stop()
        bins = self.query_one(BinsInput).bins
        self.cancel_capture()
        self._capture_cancel = threading.Event()
        self.capture_bar.capturing(message.spec)
        self._capture_current = self.capture(
            message.model, message.spec, message.seed, bins, self._capture_cancel, message.data_dir,
            target=self.capture_bar.gradient_spec,
        )  # fmt: skip
        self.refresh_bindings()  # "esc Cancel" while it runs

    @work(thread=True, exclusive=True, group="capture", exit_on_error=False, description="capture")
    def capture(
        self,
        model: Model,
        spec: str,
        seed: int,
        bins: int,
        cancel: threading.Event,
        data_dir: str | None = None,
        target: str | None = None,
    ) -> None:
        from layerscope.tui.activations import ActivationSession  # torch/onnxruntime load here

        logger.info("Capturing activations of {} with input {}…", model.path.name, spec)
        start = time.perf_counter()
        device = str(getattr(self.app, "device", "cpu"))

        def progress(done: int, total: int | None, name: str) -> None:
            self.post_message(CaptureProgress(done, total))

        folder = {"data_dir": data_dir} if data_dir else {}  # cifar10 only
        session = ActivationSession.run(
            model, spec, seed=seed, bins=bins, device=device, progress=progress, cancel=cancel,
            **folder, **_gradients(target),
        )  # fmt: skip
        seconds = time.perf_counter() - start  # the capture's own time, without the prediction
        if get_current_worker().is_cancelled:
            return
        # Predicted in this worker, after the capture: its lines then always follow the
        # capture's in the log (a second worker raced it; snapshots saw either order).
        prediction = predict_lines(session)
        if not get_current_worker().is_cancelled:
            self.post_message(ActivationsCaptured(session, seconds, prediction))

    def on_capture_progress(self, message: CaptureProgress) -> None:
        message.stop()
        self.capture_bar.progress(message.done, message.total)

    def on_activations_captured(self, message: ActivationsCaptured) -> None:
        message.stop()
        self.capture_bar.captured(message.session, message.seconds)

    def cancel_capture(self) -> None:
        """Stop a running capture or re-run (Escape); the engine removes its hooks and raises."""
        for event in (self._capture_cancel, self._fetch_cancel):
            if event is not None:
                event.set()
        for group in CAPTURE_GROUPS:
            self.workers.cancel_group(self, group)
        status = self.capture_bar.status
        if status.busy:
            status.stop("Capture cancelled.")

    # -- one layer's activation ----------------------------------------------------------------
    def on_input_source_activation_requested(
        self, message: InputSource.ActivationRequested
    ) -> None:
        message.stop()
        if self._fetch_cancel is not None:  # a stale re-run must not hold the engine up
            self._fetch_cancel.set()
        self._fetch_cancel = cancel = threading.Event()
        m = message
        self._capture_current = self.fetch_activation(
            m.session, m.layer, m.name, m.bins, m.low, m.high, m.view, m.prefix, cancel
        )

    @work(
        thread=True, exclusive=True, group="activation", exit_on_error=False,
        description="activation statistics",
    )  # fmt: skip
    def fetch_activation(
        self,
        session: ActivationSession,
        layer: str,
        name: str,
        bins: int,
        low: float | None,
        high: float | None,
        view: str,
        prefix: str,
        cancel: threading.Event,
    ) -> None:
        ready = session.fetch(layer, name, bins, low, high, cancel, view)
        if ready is not None and not get_current_worker().is_cancelled:
            status = self.capture_bar.status
            self.app.call_from_thread(status.stop, prefix + session.result.summary())
            self.post_message(ready)

    def _request_activation(self) -> bool:
        """Ask for the selected layer's activation if that view is on; ``False``: show weights."""
        model = self.model
        name = self.tree.current_layer if model is not None else None
        layer = model.layers.get(name) if model is not None and name is not None else None
        shown = self.capture_bar.show_layer(layer, self.bins, self.low, self.high, self.view)
        if shown:
            self.workers.cancel_group(self, "stats")
            self.tensor_view.stop_spinner()
        return shown

    def on_activation_ready(self, message: ActivationReady) -> None:
        answer = message.answer
        if answer.layer == self.tree.current_layer and self.capture_bar.showing_activations:
            self.stats, self.in_range = None, None  # export and the weights' figures do not apply
            self.capture_bar.status.set_note(answer.note)  # e.g. a fused ReLU's name
            self.tensor_view.show_activation(answer, self.low, self.high)
            self.sync_keys()

    def on_activation_view_changed(self, message: ActivationViewChanged) -> None:
        shown = "gradients" if message.gradients else "activations"
        logger.info("Showing {}", shown if message.activations else "weights")
        self.request_stats()
        self.sync_keys()

    # -- reports -------------------------------------------------------------------------------
    def ask_save_report(self) -> None:
        """Ask where to save the capture as an activation report, then save it (a worker)."""
        session = self.capture_bar.session
        if session is None:
            return
        from layerscope.tui.screens.report_prompt import ReportPrompt

        def chosen(paths: list[Path] | None) -> None:
            if paths:
                self.save_report(session, paths[0])

        prompt = ReportPrompt(
            "Save the capture as an activation report (JSON):",
            [("report", self.capture_bar.report_path())],
            must_exist=False,
            protect=[session.model.path],  # refused in the prompt, never written over
        )
        self.app.push_screen(prompt, chosen)

    @work(thread=True, group="report", exit_on_error=False, description="save report")
    def save_report(self, session: ActivationSession, target: Path) -> None:
        from layerscope.engine.io import make_output_folder
        from layerscope.engine.report import save

        make_output_folder(target)  # layerscope/ beside the model
        path = save(session.report(), target)  # atomic: temp file + rename
        logger.success("Saved activation report {}", path)
        self.app.call_from_thread(self.notify, f"Saved {path.name}", title="Report saved")

    # -- errors --------------------------------------------------------------------------------
    def capture_worker_changed(self, event: Worker.StateChanged) -> bool:
        """Handle a state change of this part's workers; ``False``: not one of them."""
        worker, state = event.worker, event.state
        if worker.group not in (*CAPTURE_GROUPS, "report"):
            return False
        bar = self.capture_bar
        if worker.group in CAPTURE_GROUPS:
            bar.busy = self.capture_busy
            self.refresh_bindings()  # "esc Cancel" comes and goes
            if worker is not self._capture_current:
                return True  # superseded by a newer request, which now owns the status line
            if was_cancelled(event):
                bar.status.stop("Capture cancelled.")
                if state == WorkerState.CANCELLED:  # an engine cancellation is logged below
                    logger.info("Capture cancelled")
        failure = report_failure(self, event, what="Capture")
        if failure is not None and worker.group == "capture":
            bar.failed(failure.text)
        elif failure is not None and worker.group == "activation":
            bar.status.stop(failure.text)
        return True

    # -- actions (keys and palette) ------------------------------------------------------------
    def action_capture(self) -> None:
        self._focus_control(self.capture_bar.field)

    def action_run_capture(self) -> None:
        self.capture_bar.run()

    def action_toggle_activations(self) -> None:
        self.capture_bar.toggle.toggle()

    def action_next_output(self) -> None:
        layer = self.tree.current_layer
        if layer is not None:
            self.capture_bar.next_output(layer)
            self.request_stats()

    def action_save_report(self) -> None:
        self.ask_save_report()

    def action_compare_reports(self) -> None:
        self.post_message(CompareReports(None))

    def action_compare_capture(self) -> None:
        if self.capture_bar.session is not None:
            self.post_message(CompareReports(self.capture_bar.session))
