"""The inspector: pick a model, walk its layers, see each tensor's distribution and statistics.

The screen owns the workers (listing and loading in ``inspector_open``, with the two-step start;
statistics, export here); each calls the engine off the UI thread and posts a message from
``layerscope.tui.messages``. One ``Worker.StateChanged`` handler turns
failures into a notification and a log line, so a bad file never takes the app down. The
activations bar's work lives in ``inspector_capture``, the keys in ``inspector_controls``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, OptionList, Tree
from textual.worker import Worker, WorkerState, get_current_worker

from layerscope.engine.errors import LayerscopeError, UntrustedCodeError, UntrustedPickleError
from layerscope.tui.commands import INSPECTOR_COMMANDS
from layerscope.tui.fetch import StatsFetcher
from layerscope.tui.keys import INSPECTOR_KEYS
from layerscope.tui.log import logger
from layerscope.tui.messages import (
    BinsChanged,
    FilterChanged,
    ModelLoaded,
    RangeChanged,
    StatsReady,
    ViewChanged,
)
from layerscope.tui.screens.inspector_capture import CaptureWork
from layerscope.tui.screens.inspector_controls import InspectorControls
from layerscope.tui.screens.inspector_open import InspectorOpening
from layerscope.tui.widgets.model_picker import ModelPicker
from layerscope.tui.workers import report_failure

if TYPE_CHECKING:
    from layerscope.engine.model import Model, TensorRef
    from layerscope.engine.stats import TensorStats
    from layerscope.tui.widgets.input_source import InputSource
    from layerscope.tui.widgets.layer_tree import LayerTree
    from layerscope.tui.widgets.tensor_list import TensorList
    from layerscope.tui.widgets.tensor_view import TensorView

WORK_GROUPS = ("discover", "load", "stats", "export")


class InspectorScreen(InspectorOpening, CaptureWork, InspectorControls, Screen):
    """Model picker, layer tree, tensor selector, histogram, statistics, controls and log."""

    BINDINGS = INSPECTOR_KEYS
    PALETTE = INSPECTOR_COMMANDS
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    def __init__(
        self,
        path: Path,
        *,
        trust: bool = False,
        device: str = "cpu",
        arch: str | None = None,
        arch_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.start_path = path
        self.trust = trust
        self.device = device
        self.arch = arch
        self.arch_kwargs = arch_kwargs
        self.model: Model | None = None
        self.ref: TensorRef | None = None
        self.stats: TensorStats | None = None
        self.in_range: int | None = None
        self.view = "float"
        self.bins = 50
        self.low: float | None = None
        self.high: float | None = None
        self.loading_path: Path | None = None
        self._capture_when_trusted = False  # a capture asked for trust: run it once loaded
        self._keys_shown: tuple[bool, ...] = ()
        self._return_focus: Widget | None = None
        self.fetcher = StatsFetcher(device)
        self.built = False  # the widgets besides the picker are mounted (_mount_rest)
        self._open_when_built: tuple[Path, bool | None] | None = None
        self._building = False

    def compose(self) -> ComposeResult:
        # The first frame is the picker alone: the other ~100 widgets cost more to compose and
        # style than Textual itself takes to start, so they mount right after it (_mount_rest).
        yield Header(icon="◈")
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield ModelPicker(id="picker")
            yield Vertical(id="main-column")
        yield Footer(compact=self.app.size.width < 140)  # as on_resize sets it: no restyle

    # -- typed lookups -------------------------------------------------------------------------
    @property
    def picker(self) -> ModelPicker:
        return self.query_one("#picker", ModelPicker)

    @property
    def tree(self) -> LayerTree:
        from layerscope.tui.widgets.layer_tree import LayerTree

        return self.query_one("#layers", LayerTree)

    @property
    def tensors(self) -> TensorList:
        from layerscope.tui.widgets.tensor_list import TensorList

        return self.query_one("#tensors", TensorList)

    @property
    def tensor_view(self) -> TensorView:
        from layerscope.tui.widgets.tensor_view import TensorView

        return self.query_one(TensorView)

    # -- start ---------------------------------------------------------------------------------
    def on_resize(self) -> None:
        self.query_one(Footer).compact = self.size.width < 140  # more keys fit (? Help lists all)
        self.refresh_bindings()  # some keys show in the footer only when it is wide

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.built:
            return False  # the screen's keys act on widgets mounted after the first frame
        return super().check_action(action, parameters)

    def sync_keys(self) -> None:
        if self.built:  # the key state reads widgets mounted after the first frame
            super().sync_keys()

    # -- workers (each posts a message; errors reach on_worker_state_changed) -------------------
    @work(thread=True, exclusive=True, group="stats", exit_on_error=False, description="statistics")
    def compute_stats(
        self, ref: TensorRef, view: str, bins: int, low: float | None, high: float | None
    ) -> None:
        worker = get_current_worker()
        ready = self.fetcher.fetch(ref, view, bins, low, high, lambda: worker.is_cancelled)
        if ready is not None and not worker.is_cancelled:
            self.post_message(ready)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False, description="export")
    def export_stats(self, target: Path, payload: dict[str, Any]) -> None:
        from layerscope.engine.io import make_output_folder, write_user_json  # temp file + rename
        from layerscope.engine.usecases.tensor_json import SCHEMA

        make_output_folder(target)  # layerscope/ beside the model
        write_user_json(target, payload, schema=SCHEMA, protect=[payload["model"]["path"]])
        logger.success("Saved statistics of {} to {}", payload["tensor"]["name"], target)
        self.app.call_from_thread(self.notify, f"Saved {target.name}", title="Exported")

    # -- results -------------------------------------------------------------------------------
    @on(ModelLoaded)
    def model_loaded(self, message: ModelLoaded) -> None:
        model = message.model
        previous = self.tree.current_layer if self.model is not None else None
        same_file = self.model is not None and self.model.path == model.path
        self.model, self.ref, self.stats = model, None, None
        self.tree.loading = False
        self.sub_title = f"{model.path.name} · {model.format}"
        self.picker.highlight_path(model.path)
        self.cancel_capture()
        if self.capture_bar.set_model(model):  # activations belong to the model they came from
            self._show(None)  # the old model's activation must not linger on screen
        self.tree.show_model(model)
        n_layers = len(model.layers) - 1
        timing = f" in {message.seconds:.2f} s" if self.app_timings else ""
        logger.info(
            "Opened {} ({}): {} layers, {:,} parameters{}",
            model.path.name, model.format, n_layers, model.param_count, timing,
        )  # fmt: skip
        target = next((n for n, layer in model.layers.items() if layer.tensors), "")
        if same_file and previous:
            try:
                target = model.layer(previous).name
            except LayerscopeError as exc:
                self.notify(exc.message, title=exc.title, severity="warning")
                logger.warning("{}", exc.message)
        target = self.take_reveal(model) or target  # a Layer health cell asked for a layer
        self.tree.reveal(target)
        # A new model whose target sits on the old cursor line posts no NodeHighlighted: show
        # its tensor anyway, once the cursor has moved (reveal moves it after the refresh).
        self.call_after_refresh(self._show_revealed)
        self.focus_tree_unless_typing()
        self.sync_keys()
        if self._capture_when_trusted and model.runnable:
            self._capture_when_trusted = False
            self.capture_bar.run()

    def _show_revealed(self) -> None:
        if self.model is not None and self.ref is None and self.tree.current_layer is not None:
            self.layer_highlighted()

    @on(Tree.NodeHighlighted, "#layers")
    def layer_highlighted(self) -> None:
        name = self.tree.current_layer
        if self.model is None or name is None or self.filter_typing:
            return  # while the filter is typed the tree's cursor moves; the histogram stays
        role = self.ref.role if self.ref is not None else "weight"
        layer = self.model.layers[name]
        self.tensors.show_layer(layer)
        self.tensors.select_role(role)
        if not layer.tensors:  # say why the plot is empty, and where the weights are
            where = "expand it (Enter) to reach its layers" if layer.children else "nothing to plot"
            self.tensor_view.histogram.hint = (
                f"{layer.short_name} has no tensors of its own: {where}."
            )
        self.select_tensor(self.tensors.current)

    @on(OptionList.OptionHighlighted, "#tensors")
    def tensor_highlighted(self) -> None:
        if self.tensors.current is not self.ref:
            self.select_tensor(self.tensors.current)

    def select_tensor(self, ref: TensorRef | None) -> None:
        self.drop_range_for(ref)  # a range set for one tensor does not follow to the next
        self.ref = ref
        self.request_stats()

    def request_stats(self) -> None:
        """Ask the engine for the shown tensor's statistics; answers seen before show at once."""
        if self._request_activation():
            return
        self.workers.cancel_group(self, "stats")
        if self.ref is None:
            self.tensor_view.expect(None)
            self._show(None)
            return
        view = self.view if self.ref.quant is not None else "float"
        known = self.fetcher.cached(self.ref, view, self.bins, self.low, self.high)
        if known is not None:
            self.tensor_view.expect(self.ref)
            self._show(known)
            return
        self.tensor_view.expect(self.ref)
        self.compute_stats(self.ref, view, self.bins, self.low, self.high)
        self.set_timer(0.2, self.sync_keys)  # "esc Cancel" appears if the spinner came up

    @on(StatsReady)
    def stats_ready(self, message: StatsReady) -> None:
        if message.ref is self.ref:  # else a stale answer for a tensor the user has left
            self._show(message)

    def _show(self, ready: StatsReady | None) -> None:
        self.stats = ready.stats if ready is not None else None
        self.in_range = ready.in_range if ready is not None else None
        self.tensor_view.show(self.ref, ready, self.low, self.high)
        self.sync_keys()

    @on(BinsChanged)
    def bins_changed(self, message: BinsChanged) -> None:
        self.bins = message.bins
        logger.info("Histogram bins: {}", self.bins)
        self.request_stats()

    @on(RangeChanged)
    def range_changed(self, message: RangeChanged) -> None:
        self.low, self.high = message.low, message.high
        self.request_stats()

    @on(ViewChanged)
    def view_changed(self, message: ViewChanged) -> None:
        self.view = message.view
        self.request_stats()

    @on(FilterChanged)
    def filter_changed(self, message: FilterChanged) -> None:
        self.tree.set_filter(message.text)
        if message.done:  # Enter or Escape: now show the layer the tree's cursor is on
            self.call_after_refresh(self.layer_highlighted)

    # -- errors --------------------------------------------------------------------------------
    @on(Worker.StateChanged)
    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        if self.capture_worker_changed(event):
            return  # the activations bar's work: its status line says how it went
        worker, state = event.worker, event.state
        if state in (WorkerState.CANCELLED, WorkerState.ERROR):
            if worker.group == "load":
                self.tree.loading = False
                if self.model is None:
                    self.picker.focus()  # nothing open: the next step is picking another file
            elif worker.group == "stats":
                self.tensor_view.stop_spinner()
            self.sync_keys()
        if state != WorkerState.ERROR:
            return
        error = worker.error
        if isinstance(error, UntrustedPickleError) and self.loading_path is not None:
            self.ask_trust(self.loading_path, error)
            return
        report_failure(self, event)

    def on_input_source_trust_needed(self, message: InputSource.TrustNeeded) -> None:
        self.ask_trust(message.path, UntrustedCodeError(message.reason), capture=True)

    def ask_trust(self, path: Path, error: UntrustedPickleError, *, capture: bool = False) -> None:
        """Confirm, then load ``path`` trusted (and run the capture that asked, if one did)."""
        logger.warning("{}", error.message)

        def answered(trusted: bool | None) -> None:
            if trusted:
                logger.warning("Trusting {} at the user's request", path.name)
                self._capture_when_trusted = capture
                self.open_model(path, trust=True)
            else:
                logger.info("Did not load {}", path.name)

        code = isinstance(error, UntrustedCodeError)  # TorchScript: the dialog says it is code
        from layerscope.tui.screens.confirm_trust import ConfirmTrust

        self.app.push_screen(ConfirmTrust(path, error.message, code=code), answered)

    # -- actions -------------------------------------------------------------------------------
    @property
    def app_timings(self) -> bool:
        return bool(getattr(self.app, "show_timings", True))

    @property
    def busy(self) -> bool:
        return any(w.group in WORK_GROUPS and w.is_running for w in self.workers)

    def action_cancel(self) -> None:
        if self.busy:
            for group in WORK_GROUPS:
                self.workers.cancel_group(self, group)
            self.tree.loading = False
            self.tensor_view.stop_spinner()
            logger.info("Cancelled")
        if self.capture_busy:
            self.cancel_capture()
        self.sync_keys()

    def action_export(self) -> None:
        from layerscope.engine.io import output_folder
        from layerscope.engine.usecases.tensor_json import export_path, tensor_document

        if self.model is None or self.ref is None or self.stats is None:
            return
        view = self.view if self.ref.quant is not None else "float"
        target = export_path(output_folder(self.model.path), self.model, self.ref, view)
        payload = tensor_document(
            self.model, self.ref, self.stats, view=view, bins=self.bins,
            low=self.low, high=self.high, in_range=self.in_range,
        )  # fmt: skip
        self.export_stats(target, payload)
