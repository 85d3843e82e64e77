"""The activations bar: input source, index (or seed, or path), Run, Weights | Activations, status.

It holds the capture's state (the model, the captured session, which output of a layer is shown)
and its status line, and asks for work by posting messages: ``InputSource.CaptureRequested`` and
``InputSource.ActivationRequested``. The screen that hosts it runs the workers (see
``layerscope.tui.screens.inspector_capture``) and hands the answers back through its methods.

Long because the bar is one piece of state (source, index, CIFAR-10 folder, session, shown
output) whose every change updates the same few widgets; split, each half would reach into the other.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Select

from layerscope.tui.log import logger
from layerscope.tui.messages import ActivationViewChanged
from layerscope.tui.widgets.activation_status import ActivationStatus
from layerscope.tui.widgets.activation_toggle import ActivationToggle
from layerscope.tui.widgets.gradient_target import GradientTarget
from layerscope.tui.widgets.ordered_input import OrderedInput

if TYPE_CHECKING:
    from layerscope.engine.model import Layer, Model
    from layerscope.tui.activations import ActivationSession

SOURCES = [("digits", "digits"), ("CIFAR-10", "cifar10"), ("random", "random"), ("file", "file")]
FIELD_HINT = {"digits": "index", "cifar10": "index", "random": "seed", "file": "image or .npy path"}
FIELD_TIP = {
    "digits": "Index into the embedded digits (0-1796); 0-7 or 1,5,9 for several",
    "cifar10": "Index into the CIFAR-10 test set (0-9999); 0-7 or 1,5,9 for several",
    "random": "Seed of the random normal input",
    "file": "A PNG/JPEG image or a .npy array",
}


class InputSource(Vertical):
    """Choose an input, capture every layer's activation, and flip the view to activations."""

    @dataclass
    class TrustNeeded(Message):
        """A capture was asked of a model that runs only once trusted (TorchScript is code)."""

        path: Path
        reason: str

    @dataclass
    class CaptureRequested(Message):
        """Capture every layer of ``model`` with the input ``spec`` (``seed`` for random)."""

        model: Model
        spec: str
        seed: int
        data_dir: str | None = None  # the CIFAR-10 folder, for cifar10 specs

    @dataclass
    class ActivationRequested(Message):
        """Re-run the model for one activation's statistics (``bins``, a value range, a view);
        ``prefix`` leads the status line once it is ready."""

        session: ActivationSession
        layer: str
        name: str
        bins: int
        low: float | None
        high: float | None
        view: str
        prefix: str

    DEFAULT_CSS = """
    InputSource {
        display: none;
        height: auto;
        padding: 0 1;
    }
    InputSource.-shown {
        display: block;
    }
    InputSource > #source-row, InputSource > #cifar-row {
        height: 1;
    }
    InputSource > #cifar-row {
        display: none;
    }
    InputSource.-cifar > #cifar-row {
        display: block;
    }
    InputSource #cifar-folder {
        width: 1fr;
        max-width: 60;
        margin: 0 1;
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
        self.busy = False  # a capture (or a re-run for one activation) runs: the screen says
        self.int_view = False  # the shown activation has stored integers (a quantized model)
        self.several = False  # the shown layer produced several tensors
        self.outputs: dict[str, int] = {}  # layer → which of its tensors is shown

    def compose(self) -> ComposeResult:
        with Horizontal(id="source-row"):
            yield Label("Input", id="source-label")
            yield Select(
                SOURCES, value="digits", allow_blank=False, compact=True, id="source-kind",
                tooltip="Where the input comes from",
            )  # fmt: skip
            yield OrderedInput("0", placeholder="index", compact=True, id="source-field")
            yield Button("Run", compact=True, id="source-run", tooltip="Capture (Enter)")
            yield ActivationToggle(id="activation-toggle")
        with Horizontal(id="cifar-row"):  # shown while the source is CIFAR-10
            yield Label("CIFAR-10 folder", id="cifar-label")
            yield OrderedInput(
                os.environ.get("LAYERSCOPE_CIFAR10", "data"), compact=True, id="cifar-folder",
                tooltip="The cifar-10-batches-py folder (or the folder that holds it)",
            )  # fmt: skip
        yield GradientTarget(id="grad-row")
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
    def gradient_spec(self) -> str | None:
        """The gradient target typed in the bar (``None``: capture activations only)."""
        return self.query_one(GradientTarget).spec

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
        key = self._output_key(layer)
        self.outputs[key] = self.outputs.get(key, 0) + 1

    def _output_key(self, layer: str) -> str:
        """Which of a layer's tensors is shown is kept apart for its gradients."""
        return f"∇{layer}" if self.toggle.gradients else layer

    # -- the model -----------------------------------------------------------------------------
    def set_model(self, model: Model) -> bool:
        """A model was opened: forget the last capture; offer capture only where it can run.

        The screen stops a running capture first. Returns whether activations were on screen
        (the caller clears them).
        """
        shown = self.showing_activations
        self.model, self.session = model, None
        self.outputs.clear()
        self.toggle.set(False, announce=False)
        self.toggle.show(False)
        self.toggle.offer_gradients(False)
        self.query_one(GradientTarget).offer(model.format != "onnx")  # backward needs torch
        self.status.set_note("")
        self.status.stop("Enter (or Run) captures every layer's output.")  # fits 80 columns
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
        self.set_class(kind == "cifar10", "-cifar")

    @on(Input.Changed, "#source-field")
    def field_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.fields[self.kind] = event.value

    @on(Input.Submitted, "#source-field, #grad-target")
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

    # -- capture (the screen runs it) ------------------------------------------------------------
    def run(self) -> None:
        """Ask for a capture with the chosen input (palette: "activations: capture")."""
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
        data_dir = self.cifar_folder if self.kind == "cifar10" else None
        self.post_message(self.CaptureRequested(self.model, spec[0], spec[1], data_dir))

    @property
    def cifar_folder(self) -> str | None:
        """The CIFAR-10 folder field (the engine's default search when empty)."""
        folder = self.query_one("#cifar-folder", Input).value.strip()
        return str(Path(folder).expanduser()) if folder else None

    def failed(self, reason: str) -> None:
        """A capture failed: say why, and which input the activations still shown came from."""
        shown = f" (still showing {self.session.batch.spec})" if self.session else ""
        self.status.stop(f"Capture failed{shown}: {reason}", wrap=True)

    def capturing(self, spec: str) -> None:
        """A capture with ``spec`` started: the spinner says so."""
        self.status.set_note("")
        self.status.start(f"Capturing with {spec}…")

    def progress(self, done: int, total: int | None) -> None:
        """The running capture produced its ``done``-th tensor."""
        if self.status.busy:
            of = f"/{total}" if total else ""
            self.status.set_text(f"Capturing… {done}{of} tensors")

    def captured(self, session: ActivationSession, seconds: float) -> None:
        """A capture finished: keep it and flip the view to activations."""
        if session.model is not self.model:
            return  # captured for a model the user has since closed
        self.session = session
        result = session.result
        self.status.stop(result.summary())
        for line in result.not_available:
            logger.warning("Not available: {}", line)
        for name, reason in result.errors.items():
            logger.warning("{}: {}", name, reason)
        timing = f" in {seconds:.2f} s" if getattr(self.app, "show_timings", True) else ""
        logger.success("{}{}", result.summary(), timing)
        self.toggle.show(True)
        self.toggle.offer_gradients(session.gradients)
        self.toggle.set(True, announce=False)  # the user asked to see activations: show them
        self.post_message(ActivationViewChanged(True))

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

        Posts ``ActivationReady`` when cached, else ``ActivationRequested`` (the screen's worker
        then posts ``ActivationReady``). Where the layer has no captured activation, the status
        line says so and the caller keeps showing weights.
        """
        session = self.session
        if session is None or not self.toggle.activations or layer is None:
            self.status.set_note("")
            return False
        grads = self.toggle.gradients  # its outputs' and parameters' gradients
        acts = session.gradients_of(layer.name) if grads else session.for_layer(layer.name)
        label = layer.name or "the model"
        if not acts:
            inner = self._inner_activation(layer)
            if layer.tensors:
                why = "showing its weights"
            elif inner is not None:
                why = f"its layers have them, e.g. {inner}"
            else:
                why = "nothing to show"
            what = "gradient" if grads else "activation"
            self.status.set_note(f"{label}: no captured {what}; {why}")
            self.int_view = self.several = False
            return False
        # Tuple outputs and repeated calls give a layer several tensors: n walks through them.
        index = self.outputs.get(self._output_key(layer.name), 0) % len(acts)
        act = acts[index]
        self.several = len(acts) > 1
        of = "gradients" if grads else "outputs"
        more = f"{act.name}: {index + 1} of {len(acts)} {of} (n: next) · " if self.several else ""
        if grads:
            target = session.result.gradient_target or {}
            more = f"∂{target.get('loss', 'loss')}({target.get('target', '?')})/∂{act.name} · "
            more += f"{index + 1} of {len(acts)} (n: next) · " if self.several else ""
            view = "grad"
        self.status.set_note("")
        self.status.set_text(more + session.result.summary())
        self.int_view = act.int_stats is not None
        ready = session.cached(layer.name, act.name, bins, low, high, view)
        if ready is not None:
            self.post_message(ready)
        else:
            what = "counting values in the range" if low is not None else f"{bins} bins"
            self.status.start(f"Re-running the model for {act.name} ({what})…")
            self.post_message(
                self.ActivationRequested(session, layer.name, act.name, bins, low, high, view, more)
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

    # -- reports -------------------------------------------------------------------------------
    def report_path(self) -> Path:
        """``<model stem>.<input>.activations.json`` in ``layerscope/`` beside the model."""
        assert self.session is not None
        spec = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.session.batch.spec).strip("_") or "input"
        from layerscope.engine.io import output_folder

        folder = output_folder(self.session.model.path)
        return folder / f"{self.session.model.path.stem}.{spec}.activations.json"


def _can_run(model: Model) -> bool:
    """Runnable now, or once trusted (TorchScript opened without trust is listed, not loaded)."""
    return model.runnable or bool(model.metadata.get("needs_trust"))
