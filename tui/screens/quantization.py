"""The Quantization view: a model against its float/quantized twin, layer by layer, worst first.

The screen owns the workers: ``find_pairs`` (the engine's twins of the open model), ``run_compare``
(load both, ``layerscope.engine.quant_compare.compare`` with a progress callback and a cancel event) and
``compute_histograms`` (shared-range histograms of the selected row, shown by
``layerscope.tui.screens.quant_rows``), all through ``layerscope.engine.usecases.quant``.
They post messages from ``layerscope.tui.messages``; failures become a notification and a log line.
Escape stops a running comparison and goes back.

Long because it owns the view's three workers and what their answers do to the screen (a failed
comparison puts the last good one back); the rows' histograms are in ``layerscope.tui.screens.quant_rows``.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input
from textual.worker import Worker, WorkerState, get_current_worker

from layerscope.engine.quant_compare.result import DEFAULT_THRESHOLD_DB  # numpy only, no torch
from layerscope.engine.usecases.quant import (  # torch-free at import; loads it inside the calls
    ComparisonRun,
    ComparisonSpec,
    activation_histograms,
    find_twins,
    model_data_spec,
    no_twin_message,
    run_comparison,
    weight_histograms,
)
from layerscope.tui.commands import QUANT_COMMANDS
from layerscope.tui.keys import QUANT_KEYS
from layerscope.tui.log import logger
from layerscope.tui.messages import ComparisonReady, QuantHistogramsReady, QuantProgress, TwinsFound
from layerscope.tui.screens.quant_rows import QuantRows
from layerscope.tui.widgets.quant_histograms import QuantHistograms
from layerscope.tui.widgets.quant_inputs import QuantInputs
from layerscope.tui.widgets.quant_summary import QuantSummary
from layerscope.tui.widgets.quant_table import QuantRow, QuantTable, rows_of
from layerscope.tui.workers import report_failure

if TYPE_CHECKING:
    from layerscope.engine.discover import ModelGroup
    from layerscope.engine.model import Model
    from layerscope.engine.quant_compare import Comparison

HIST_BINS = 50


class QuantizationScreen(QuantRows, Screen[str | None]):
    """Summary, the worst-first table of layers, and the selected row's two histograms.

    Dismissed with a layer of the inspector's model to show there (g), else with ``None``.
    """

    BINDINGS = QUANT_KEYS
    PALETTE = QUANT_COMMANDS
    DEFAULT_CSS = """
    QuantizationScreen QuantSummary, QuantizationScreen QuantTable,
    QuantizationScreen QuantHistograms {
        border: round $panel;
        border-title-color: $text-muted;
    }
    QuantizationScreen QuantTable:focus {
        border: round $accent;
        border-title-color: $accent;
    }
    QuantizationScreen QuantTable {
        max-height: 14;
    }
    QuantizationScreen.-short QuantTable {
        max-height: 8;
    }
    QuantizationScreen.-short QuantSummary, QuantizationScreen.-short QuantHistograms {
        border: none;
    }
    """
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]

    def __init__(
        self,
        path: Path,
        *,
        model: Model | None = None,
        groups: list[ModelGroup] | None = None,
        trust: bool = False,
        device: str = "cpu",
        arch: str | None = None,
        arch_kwargs: dict[str, Any] | None = None,
        inputs: str | None = None,
        threshold_db: float = DEFAULT_THRESHOLD_DB,
        data_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.path = path
        self.model = model  # the inspector's model: reused instead of loading it again
        self.groups = groups
        self.trust, self.device, self.arch = trust, device, arch
        self.arch_kwargs = arch_kwargs
        # The input the user last used (the inspector's capture), else the model's own data
        # when its folder says (digits), else random: random inputs flag everything.
        self.input_spec = inputs or model_data_spec(path) or "random"
        self.threshold_db = threshold_db
        self.data_dir = data_dir  # the CIFAR-10 folder the inspector captured from
        self.pairs: list[tuple[Path, Path]] = []
        self.pair_index = 0
        self.result: Comparison | None = None
        self.rows: list[QuantRow] = []
        self.flagged_only = False
        self._cancel = threading.Event()
        self._shown_key: str | None = None
        self.tensor_kind = "weight"  # what a layer row's histograms show: weight or activation
        self._run: ComparisonRun | None = None  # the models and inputs compared
        self._drawn: dict[str, QuantHistogramsReady] = {}  # answers of this comparison
        self._shown: tuple | None = None  # the comparison on screen, kept if a new one fails
        self._spec_used = (self.input_spec, threshold_db)  # what the shown comparison ran on

    def compose(self) -> ComposeResult:
        yield Header(icon="◈")
        yield QuantSummary(id="quant-summary")
        yield QuantInputs(self.input_spec, self.threshold_db, id="quant-inputs")
        yield QuantTable(id="quant-table")
        yield QuantHistograms(id="quant-hists")
        yield Footer()

    # -- typed lookups -------------------------------------------------------------------------
    @property
    def summary(self) -> QuantSummary:
        return self.query_one(QuantSummary)

    @property
    def table(self) -> QuantTable:
        return self.query_one(QuantTable)

    @property
    def histograms(self) -> QuantHistograms:
        return self.query_one(QuantHistograms)

    @property
    def pair(self) -> tuple[Path, Path] | None:
        return self.pairs[self.pair_index] if self.pairs else None

    # -- start ---------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.sub_title = f"Quantization · {self.path.name}"
        self.query_one(Footer).compact = self.size.width < 100
        self.table.focus()
        self.find_pairs(self.path, self.groups)

    def on_resize(self) -> None:
        self.query_one(Footer).compact = self.size.width < 100

    # -- workers -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="quant-compare", exit_on_error=False,
          description="find twin")  # fmt: skip
    def find_pairs(self, path: Path, groups: list[ModelGroup] | None) -> None:
        from layerscope.engine.discover import discover

        groups = groups if groups is not None else discover(path.parent)
        found = find_twins(path, groups)
        why = "" if found else no_twin_message(path, groups)
        if not get_current_worker().is_cancelled:
            self.post_message(TwinsFound(path, found, why))

    @work(thread=True, exclusive=True, group="quant-compare", exit_on_error=False,
          description="compare float and quantized")  # fmt: skip
    def run_compare(self, float_path: Path, quant_path: Path, cancel: threading.Event) -> None:
        worker = get_current_worker()
        start = time.perf_counter()
        spec = ComparisonSpec(
            float_path, quant_path, inputs=self.input_spec, threshold_db=self.threshold_db,
            arch=self.arch, arch_kwargs=self.arch_kwargs, trust=self.trust, device=self.device,
            shapeless_random="weights", data_dir=self.data_dir,
        )  # fmt: skip

        def progress(stage: str, done: int, total: int) -> None:
            if worker.is_cancelled:
                cancel.set()  # the engine checks the event between steps
            self.post_message(QuantProgress(stage, done, total))

        loaded = [self.model] if self.model is not None else []
        run = run_comparison(spec, loaded=loaded, progress=progress, cancel=cancel)
        result, described = run.comparison, run.inputs_description
        self._run = run  # set before the message that lets rows ask for it
        if not worker.is_cancelled and not cancel.is_set():
            self.post_message(ComparisonReady(result, described, time.perf_counter() - start))

    @work(thread=True, exclusive=True, group="quant-hist", exit_on_error=False,
          description="histograms")  # fmt: skip
    def compute_histograms(self, row: QuantRow, key: str, kind: str) -> None:
        if kind == "weight":
            assert row.layer is not None
            f, q = weight_histograms(row.layer, HIST_BINS)
        else:
            tensor = row.act if row.layer is None else row.layer.activation
            assert tensor is not None and self._run is not None
            f, q = activation_histograms(
                self._run, tensor.float_name, tensor.quant_name, HIST_BINS, self._cancel
            )
        # Posted even when the user moved on: the answer is kept for when they come back.
        self.post_message(QuantHistogramsReady(key, f, q))

    # -- results -------------------------------------------------------------------------------
    @on(TwinsFound)
    def twins_found(self, message: TwinsFound) -> None:
        self.pairs, self.pair_index = message.pairs, 0
        if not message.pairs:
            text = message.why or no_twin_message(message.path)
            self.summary.show_message(text + " Escape goes back.", "bold yellow")
            self.histograms.show_hint("Nothing to compare.")
            self.notify(text, title="No quantized twin", severity="warning", timeout=10)
            logger.warning("{}", text)
            return
        self.start_compare()

    def start_compare(self) -> None:
        """Compare the current pair (a fresh cancel event: the last one may be set)."""
        pair = self.pair
        if pair is None:
            return
        if self.result is not None:  # a typo in the fields must not throw this one away
            about = self.query_one(QuantInputs).about
            self._shown = (pair, self.result, self._run, self._drawn, self._spec_used, about)
        self.result, self.rows, self._shown_key = None, [], None
        self._run, self._drawn = None, {}
        self.table.show_rows([])
        self.histograms.show_hint("Comparing… the selected row's histograms appear here.")
        self.summary.show_progress(pair, "loading models", 0, 0)
        self._cancel = threading.Event()
        logger.info("Comparing {} with {}…", pair[0].name, pair[1].name)
        self.run_compare(pair[0], pair[1], self._cancel)
        self.refresh_bindings()

    @on(QuantProgress)
    def compare_progress(self, message: QuantProgress) -> None:
        if self.pair is not None and self.result is None:
            self.summary.show_progress(self.pair, message.stage, message.done, message.total)

    @on(ComparisonReady)
    def comparison_ready(self, message: ComparisonReady) -> None:
        result = self.result = message.comparison
        self.rows = rows_of(result)
        note = f"(twin {self.pair_index + 1} of {len(self.pairs)}, t: next)" if len(self.pairs) > 1 else ""  # fmt: skip
        hint = ""
        out = result.output
        if (
            self.input_spec.startswith("random")
            and out
            and out.figures.sqnr_db < result.threshold_db
        ):
            hint = "random inputs may miss the calibrated range; n › e.g. digits:0-31"
        self._spec_used = (self.input_spec, self.threshold_db)
        about = message.inputs or "the weights only (no input shape: try e.g. random:3x32x32)"
        self.summary.show_result(result, note, hint, inputs=about)
        self.query_one(QuantInputs).describe(about)
        self.table.show_rows(self.rows, flagged_only=self.flagged_only)
        self.table.border_subtitle = (
            f"⚑ below {result.threshold_db:g} dB · ◀ drop starts here · g inspects the layer"
        )
        timing = f" in {message.seconds:.1f} s" if getattr(self.app, "show_timings", True) else ""
        logger.info(
            "Compared {} layers: {} flagged below {:g} dB{}",
            len(result.layers), len(result.flagged), result.threshold_db, timing,
        )  # fmt: skip
        self.show_row(self.table.current)
        self.refresh_bindings()

    @on(DataTable.RowHighlighted, "#quant-table")
    @on(DataTable.RowSelected, "#quant-table")
    def row_chosen(self) -> None:
        self.show_row(self.table.current)

    # -- errors --------------------------------------------------------------------------------
    @on(Worker.StateChanged)
    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        if state in (WorkerState.SUCCESS, WorkerState.CANCELLED, WorkerState.ERROR):
            self.refresh_bindings()
        what = "Comparison" if worker.group == "quant-compare" else "Capture"
        failure = report_failure(self, event, what=what)
        if failure is None:
            return
        if worker.group == "quant-compare" and self._restore_shown(failure.text):
            return
        if worker.group == "quant-compare":
            self.summary.show_message(f"{failure.title}: {failure.text}", "bold red")
            self.histograms.show_hint("Nothing to show: the comparison failed.")
        elif worker.group == "quant-hist":
            self._shown_key = None  # moving back to the row tries again
            self.histograms.show_hint(f"No histograms: {failure.text}")

    def _restore_shown(self, why: str) -> bool:
        """Put the last comparison of this pair back after a failed one (a typo in the inputs);
        ``False`` when there is none to put back."""
        if self._shown is None or self._shown[0] != self.pair:
            return False
        _, self.result, self._run, self._drawn, spec_used, about = self._shown
        (self.input_spec, self.threshold_db), self._shown = spec_used, None
        self._spec_used, self.rows = spec_used, rows_of(self.result)
        self.query_one(QuantInputs).reset(*spec_used)
        self.query_one(QuantInputs).describe(about)
        kept = f"{why} — still showing the comparison on {spec_used[0]}"
        self.summary.show_result(self.result, hint=kept, inputs=about)
        self.table.show_rows(self.rows, flagged_only=self.flagged_only)
        self.show_row(self.table.current)
        return True

    # -- actions -------------------------------------------------------------------------------
    @property
    def comparing(self) -> bool:
        return any(w.group == "quant-compare" and w.is_running for w in self.workers)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_exclude":
            return self.result is not None and bool(self.result.suggest_exclude())
        if action in ("export", "toggle_flagged", "toggle_tensor"):
            return self.result is not None
        if action == "inspect_layer":
            return self.result is not None
        if action == "next_twin":
            return len(self.pairs) > 1
        return True

    def action_back(self) -> None:
        fields = self.query_one(QuantInputs)
        if isinstance(self.focused, Input):  # Escape in a field undoes the edit, as in a dialog
            fields.reset(self.input_spec, self.threshold_db)
            self.table.focus()
            return
        self._leave(None)

    def _leave(self, layer: str | None) -> None:
        self._cancel.set()  # a running comparison stops at its next step
        for group in ("quant-compare", "quant-hist"):
            self.workers.cancel_group(self, group)
        self.dismiss(layer)

    def action_inspect_layer(self) -> None:
        """Back to the inspector, on the selected row's layer in the model open there."""
        row, pair = self.table.current, self.pair
        if row is None or pair is None:
            return
        if row.layer is None:  # a further activation: the ONNX node computing it
            name = row.act.exclude_node if row.act is not None else None
        elif self.path.resolve() == pair[1].resolve():
            name = row.layer.quant_layer
        else:
            name = row.layer.float_layer
        self._leave(name)

    def action_focus_inputs(self) -> None:
        self.query_one(QuantInputs).input.focus()

    def action_focus_threshold(self) -> None:
        self.query_one(QuantInputs).threshold.focus()

    @on(Input.Submitted, "#quant-inputs Input")
    def inputs_submitted(self) -> None:
        fields = self.query_one(QuantInputs)
        spec = fields.input.value.strip() or "random"
        try:
            threshold = float(fields.threshold.value)
        except ValueError:
            threshold = float("nan")
        if not math.isfinite(threshold):
            text = f"The threshold must be a number of dB, not {fields.threshold.value!r}."
            self.notify(text, title="Threshold", severity="warning")
            return
        self.table.focus()
        if (spec, threshold) == (self.input_spec, self.threshold_db) and self.result is not None:
            return  # nothing changed: keep the comparison on screen
        self.input_spec, self.threshold_db = spec, threshold
        self._cancel.set()
        self.start_compare()

    def action_next_twin(self) -> None:
        if len(self.pairs) < 2:
            return
        self._cancel.set()
        self.pair_index = (self.pair_index + 1) % len(self.pairs)
        self.start_compare()

    def action_one_twin(self) -> None:
        if self.pair is not None:
            f, q = self.pair
            self.notify(f"{f.name} and {q.name} are the only twins here.", title="Next twin")

    def action_copy_exclude(self) -> None:
        if self.result is None:
            return
        names = self.result.suggest_exclude()
        if not names:
            self.notify(f"Nothing to exclude: no layer is below {self.result.threshold_db:g} dB.",
                        title="Exclude list")  # fmt: skip
            return
        text = repr(names)  # as quantize_static(nodes_to_exclude=[...]) takes it
        self.app.copy_to_clipboard(text)
        # The clipboard reaches the local terminal only where it supports OSC 52: log it too.
        logger.info("nodes_to_exclude={}", text)
        self.notify(f"{len(names)} node names copied (also in the log).", title="Exclude list")

    def action_export(self) -> None:
        if self.result is None:
            return
        f, q = Path(self.result.float_path), Path(self.result.quant_path)
        from layerscope.engine.io import output_folder

        target = output_folder(q) / f"{f.stem}_vs_{q.stem}.quant.json"  # beside the models
        self.export_json(target, self.result.to_dict())

    @work(thread=True, exclusive=True, group="quant-export", exit_on_error=False,
          description="export")  # fmt: skip
    def export_json(self, target: Path, payload: dict[str, Any]) -> None:
        from layerscope.engine.io import make_output_folder, write_user_json  # temp file + rename

        make_output_folder(target)

        models = [payload.get("float"), payload.get("quant")]  # the two models compared
        write_user_json(target, payload, schema="layerscope.quant-compare", protect=models)
        logger.success("Saved the comparison to {}", target)
        self.app.call_from_thread(self.notify, f"Saved {target.name}", title="Exported")
