"""The activations bar: input source, index (or seed, or path), Run, Weights | Activations, status.

It owns the capture: its workers call the engine (``tui.activations``) off the UI thread and post
``ActivationsCaptured`` / ``ActivationReady``, which bubble to the screen. It lives in its own
widget so the inspector screen only has to say which layer is selected.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Select
from textual.worker import Worker, WorkerState, get_current_worker

from engine.errors import LayerscopeError
from tui.messages import ActivationsCaptured, ActivationViewChanged, CaptureProgress
from tui.widgets.activation_status import ActivationStatus
from tui.widgets.activation_toggle import ActivationToggle

if TYPE_CHECKING:
    from engine.model import Layer, Model
    from tui.activations import ActivationSession

SOURCES = [("digits", "digits"), ("CIFAR-10", "cifar10"), ("random", "random"), ("file", "file")]
FIELD_HINT = {"digits": "index", "cifar10": "index", "random": "seed", "file": "image or .npy path"}
FIELD_TIP = {
    "digits": "Index into the embedded digits (0-1796); 0-7 or 1,5,9 for several",
    "cifar10": "Index into the CIFAR-10 test set (0-9999); 0-7 or 1,5,9 for several",
    "random": "Seed of the random normal input",
    "file": "A PNG/JPEG image or a .npy array",
}
GROUPS = ("capture", "activation")  # what Escape cancels and the spinner stands for
ERROR_GROUPS = (*GROUPS, "report")


class InputSource(Vertical):
    """Choose an input, capture every layer's activation, and flip the view to activations."""

    @dataclass
    class TrustNeeded(Message):
        """A capture was asked of a model that runs only once trusted (TorchScript is code)."""

        path: Path
        reason: str

    DEFAULT_CSS = """
    InputSource {
        display: none;
        height: auto;
        padding: 0 1;
    }
    InputSource.-shown {
        display: block;
    }
    InputSource > #source-row {
        height: 1;
    }
    InputSource #source-label {
        color: $text-muted;
        margin: 0 1 0 0;
    }
    InputSource Select {
        width: 14;
    }
    InputSource #source-field {
        width: 10;
        margin: 0 1;
    }
    InputSource #source-field.-path {
        width: 1fr;
        max-width: 40;
    }
    InputSource Button {
        min-width: 5;
    }
    InputSource ActivationStatus {
        padding: 0;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model: Model | None = None
        self.session: ActivationSession | None = None
        self.fields = {"digits": "0", "cifar10": "0", "random": "0", "file": ""}
        self._cancel: threading.Event | None = None  # the running capture's
        self._fetch_cancel: threading.Event | None = None  # the running re-run's
        self.int_view = False  # the shown activation has stored integers (a quantized model)
        self.several = False  # the shown layer produced several tensors
        self.outputs: dict[str, int] = {}  # layer → which of its tensors is shown
        self._current: Worker[None] | None = None  # the latest capture or re-run

    def compose(self) -> ComposeResult:
        with Horizontal(id="source-row"):
            yield Label("Input", id="source-label")
            yield Select(
                SOURCES, value="digits", allow_blank=False, compact=True, id="source-kind",
                tooltip="Where the input comes from",
            )  # fmt: skip
            yield Input("0", placeholder="index", compact=True, id="source-field")
            yield Button("Run", compact=True, id="source-run", tooltip="Capture (Enter)")
            yield ActivationToggle(id="activation-toggle")
        yield ActivationStatus(id="activation-status")

    # -- typed lookups -------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return str(self.query_one("#source-kind", Select).value)

    @property
    def field(self) -> Input:
        return self.query_one("#source-field", Input)

    @property
    def toggle(self) -> ActivationToggle:
        return self.query_one(ActivationToggle)

    @property
    def status(self) -> ActivationStatus:
        return self.query_one(ActivationStatus)

    @property
    def busy(self) -> bool:
        """Whether a capture (or a re-run for one activation) is running."""
        return any(w.group in GROUPS and w.is_running for w in self.workers)

    @property
    def showing_activations(self) -> bool:
        return self.session is not None and self.toggle.activations

    def key_state(self) -> tuple[bool, bool, bool, bool]:
        """(the model can run, a capture exists, an int view applies, several outputs shown)."""
        return (
            self.model is not None and _can_run(self.model),
            self.session is not None,
            self.showing_activations and self.int_view,
            self.showing_activations and self.several,
        )

    def allows(self, action: str) -> bool:
        """Whether the screen's capture ``action`` applies now (keys and palette)."""
        runnable, captured, _, several = self.key_state()
        if action == "capture":
            return runnable
        if action == "run_capture":
            return self.model is not None  # offered so that a weights-only model can say why not
        if action in ("toggle_activations", "save_report", "compare_capture"):
            return captured
        if action == "next_output":
            return several
        return True

    def next_output(self, layer: str) -> None:
        """Show the layer's next tensor (the caller asks for it again)."""
        self.outputs[layer] = self.outputs.get(layer, 0) + 1

    # -- the model -----------------------------------------------------------------------------
    def set_model(self, model: Model) -> bool:
        """A model was opened: forget the last capture; offer capture only where it can run.

        Returns whether activations were on screen (the caller clears them).
        """
        shown = self.showing_activations
        self.cancel()
        self.model, self.session = model, None
        self.outputs.clear()
        self.toggle.set(False, announce=False)
        self.toggle.show(False)
        self.status.set_note("")
        self.status.stop(
            "Pick an input and press Enter (or Run) to capture every layer's activation."
        )
        self.set_class(_can_run(model), "-shown")
        return shown

    def not_runnable_reason(self) -> str | None:
        """Why the open model cannot be captured, or ``None`` if it can."""
        if self.model is None:
            return "Open a model first."
        if not _can_run(self.model):
            return (
                f"{self.model.path.name} ({self.model.format}) holds weights but no runnable "
                "graph: start layerscope with --arch (e.g. --arch resnet8) to capture activations."
            )
        return None

    # -- the input -----------------------------------------------------------------------------
    @on(Select.Changed, "#source-kind")
    def kind_changed(self, event: Select.Changed) -> None:
        event.stop()
        kind = str(event.value)
        field = self.field
        field.placeholder = FIELD_HINT[kind]
        field.tooltip = FIELD_TIP[kind]
        field.value = self.fields[kind]
        field.set_class(kind == "file", "-path")

    @on(Input.Changed, "#source-field")
    def field_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.fields[self.kind] = event.value

    @on(Input.Submitted, "#source-field")
    def field_submitted(self) -> None:
        self.run()  # the event bubbles on: the screen hands the keyboard back to the layers

    @on(Button.Pressed, "#source-run")
    def run_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.run()

    def focus_field(self) -> None:
        self.field.focus()

    def spec(self) -> tuple[str, int] | None:
        """(input spec, seed) from the controls; ``None`` (and a notification) if incomplete."""
        kind, text = self.kind, self.field.value.strip()
        if kind == "file":
            if not text:
                self._warn("Type the path of a PNG/JPEG image or a .npy array, then press Enter.")
                return None
            return str(Path(text).expanduser()), 0
        if kind == "random":
            try:
                return "random", int(text or "0")
            except ValueError:
                self._warn(f"The random input's seed must be a whole number; got {text!r}.")
                return None
        return f"{kind}:{text or '0'}", 0

    def _warn(self, text: str) -> None:
        self.notify(text, title="Input", severity="warning")
        logger.warning("{}", text)

    # -- capture -------------------------------------------------------------------------------
    def run(self) -> None:
        """Capture with the chosen input (palette: "activations: capture")."""
        reason = self.not_runnable_reason()
        if reason is not None:
            self._warn(reason)
            return
        spec = self.spec()
        if spec is None or self.model is None:
            return
        if not self.model.runnable:  # listed untrusted TorchScript: the screen asks, then reruns
            self.post_message(self.TrustNeeded(self.model.path, self.model.metadata["needs_trust"]))
            return
        from tui.widgets.bins_input import BinsInput  # the bins the histogram shows now

        bins = self.screen.query_one(BinsInput).bins
        self.cancel()
        self._cancel = threading.Event()
        self.status.set_note("")
        self.status.start(f"Capturing with {spec[0]}…")
        self._current = self.capture(self.model, spec[0], spec[1], bins, self._cancel)
        self.screen.refresh_bindings()  # "esc Cancel" while it runs

    @work(thread=True, exclusive=True, group="capture", exit_on_error=False, description="capture")
    def capture(
        self, model: Model, spec: str, seed: int, bins: int, cancel: threading.Event
    ) -> None:
        from tui.activations import ActivationSession  # torch/onnxruntime load here

        logger.info("Capturing activations of {} with input {}…", model.path.name, spec)
        start = time.perf_counter()
        device = str(getattr(self.app, "device", "cpu"))

        def progress(done: int, total: int | None, name: str) -> None:
            self.post_message(CaptureProgress(done, total))

        session = ActivationSession.run(
            model, spec, seed=seed, bins=bins, device=device, progress=progress, cancel=cancel
        )
        if not get_current_worker().is_cancelled:
            self.post_message(ActivationsCaptured(session, time.perf_counter() - start))

    def on_capture_progress(self, message: CaptureProgress) -> None:
        message.stop()
        if self.status.busy:
            of = f"/{message.total}" if message.total else ""
            self.status.set_text(f"Capturing… {message.done}{of} tensors")

    def on_activations_captured(self, message: ActivationsCaptured) -> None:
        message.stop()
        session = message.session
        if session.model is not self.model:
            return  # captured for a model the user has since closed
        self.session = session
        result = session.result
        self.status.stop(result.summary())
        for line in result.not_available:
            logger.warning("Not available: {}", line)
        for name, reason in result.errors.items():
            logger.warning("{}: {}", name, reason)
        timing = f" in {message.seconds:.2f} s" if getattr(self.app, "show_timings", True) else ""
        logger.success("{}{}", result.summary(), timing)
        self.toggle.show(True)
        self.toggle.set(True, announce=False)  # the user asked to see activations: show them
        self.post_message(ActivationViewChanged(True))

    def cancel(self) -> None:
        """Stop a running capture (Escape); the engine removes its hooks and raises."""
        for event in (self._cancel, self._fetch_cancel):
            if event is not None:
                event.set()
        for group in GROUPS:
            self.workers.cancel_group(self, group)
        if self.status.busy:
            self.status.stop("Capture cancelled.")

    # -- one layer's activation ----------------------------------------------------------------
    def show_layer(
        self,
        layer: Layer | None,
        bins: int,
        low: float | None,
        high: float | None,
        view: str = "float",
    ) -> bool:
        """Ask for ``layer``'s activation if the view shows activations; ``False``: show weights.

        Posts ``ActivationReady`` (at once when cached, else from a worker). Where the layer has
        no captured activation, the status line says so and the caller keeps showing weights.
        """
        session = self.session
        if session is None or not self.toggle.activations or layer is None:
            self.status.set_note("")
            return False
        acts = session.for_layer(layer.name)
        label = layer.name or "the model"
        if not acts:
            inner = self._inner_activation(layer)
            if layer.tensors:
                why = "showing its weights"
            elif inner is not None:
                why = f"its layers have them, e.g. {inner}"
            else:
                why = "nothing to show"
            self.status.set_note(f"{label}: no captured activation; {why}")
            self.int_view = self.several = False
            return False
        # Tuple outputs and repeated calls give a layer several tensors: n walks through them.
        index = self.outputs.get(layer.name, 0) % len(acts)
        act = acts[index]
        self.several = len(acts) > 1
        more = (
            f"{act.name}: {index + 1} of {len(acts)} outputs (n: next) · " if self.several else ""
        )
        self.status.set_note("")
        self.status.set_text(more + session.result.summary())
        self.int_view = act.int_stats is not None
        ready = session.cached(layer.name, act.name, bins, low, high, view)
        if ready is not None:
            self.post_message(ready)
        else:
            what = "counting values in the range" if low is not None else f"{bins} bins"
            self.status.start(f"Re-running the model for {act.name} ({what})…")
            if self._fetch_cancel is not None:  # a stale re-run must not hold the engine up
                self._fetch_cancel.set()
            self._fetch_cancel = cancel = threading.Event()
            self._current = self.fetch(
                session, layer.name, act.name, bins, low, high, view, more, cancel
            )
        return True

    def _inner_activation(self, layer: Layer) -> str | None:
        """The first layer below ``layer`` with a captured activation (ONNX groups have none)."""
        if self.session is None or self.model is None:
            return None
        todo = list(layer.children)
        while todo:
            name = todo.pop(0)
            if self.session.for_layer(name):
                return name
            child = self.model.layers.get(name)
            todo[:0] = child.children if child is not None else []
        return None

    @work(
        thread=True, exclusive=True, group="activation", exit_on_error=False,
        description="activation statistics",
    )  # fmt: skip
    def fetch(
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
            self.app.call_from_thread(self.status.stop, prefix + session.result.summary())
            self.post_message(ready)

    # -- reports -------------------------------------------------------------------------------
    def report_path(self) -> Path:
        """``<model stem>.<input>.activations.json`` in the working folder."""
        assert self.session is not None
        spec = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.session.batch.spec).strip("_") or "input"
        return Path.cwd() / f"{self.session.model.path.stem}.{spec}.activations.json"

    def ask_save_report(self) -> None:
        """Ask where to save the capture as an activation report, then save it (a worker)."""
        session = self.session
        if session is None:
            return
        from tui.screens.report_prompt import ReportPrompt

        def chosen(paths: list[Path] | None) -> None:
            if paths:
                self.save_report(session, paths[0])

        prompt = ReportPrompt(
            "Save the capture as an activation report (JSON):",
            [("report", self.report_path())],
            must_exist=False,
        )
        self.app.push_screen(prompt, chosen)

    @work(thread=True, group="report", exit_on_error=False, description="save report")
    def save_report(self, session: ActivationSession, target: Path) -> None:
        from engine.report import save

        path = save(session.report(), target)  # atomic: temp file + rename
        logger.success("Saved activation report {}", path)
        self.app.call_from_thread(self.notify, f"Saved {path.name}", title="Report saved")

    def ask_compare(self, *, with_capture: bool) -> None:
        """Ask for two reports (or one, against the current capture) and open the compare view."""
        from tui.screens.compare import ask_and_compare

        if with_capture and self.session is None:
            return
        ask_and_compare(self.app, self.session if with_capture else None)

    # -- errors --------------------------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        if worker.group not in ERROR_GROUPS:
            return
        if worker.group in GROUPS:
            self.screen.refresh_bindings()  # "esc Cancel" comes and goes with the work
            if worker is not self._current:
                return  # superseded by a newer request, which now owns the status line
        if state == WorkerState.CANCELLED or (
            state == WorkerState.ERROR and _cancelled(worker.error)
        ):
            self.status.stop("Capture cancelled.")
            logger.info("Capture cancelled")
        if state != WorkerState.ERROR or _cancelled(worker.error):
            return
        error = worker.error
        if isinstance(error, LayerscopeError):
            title, text = error.title, error.message
        else:
            title, text = "Unexpected error", f"{type(error).__name__}: {error}"
        if worker.group == "capture":
            self.status.stop(f"Capture failed: {text}")
        elif worker.group == "activation":
            self.status.stop(text)
        self.notify(text, title=title, severity="error", timeout=10)
        logger.error("{}: {}", title, text)


def _cancelled(error: BaseException | None) -> bool:
    """The engine's ``CaptureCancelled`` (matched by title: importing it would load torch)."""
    return isinstance(error, LayerscopeError) and error.title == "Cancelled"


def _can_run(model: Model) -> bool:
    """Runnable now, or once trusted (TorchScript opened without trust is listed, not loaded)."""
    return model.runnable or bool(model.metadata.get("needs_trust"))
