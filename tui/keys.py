"""The inspector's key bindings in one place, each with an ``id`` so users can remap it."""

from __future__ import annotations

from textual.binding import Binding

# Every screen's first keys: ? (shown, so even 80 columns show where the rest are) and F1,
# which also works where ? would be typed into a field.
# fmt: off
HELP_KEYS = [
    Binding("question_mark", "app.help", "Help", key_display="?", tooltip="Every key of this screen", id="app.help"),
    Binding("f1", "app.help", "Help", show=False, tooltip="Every key of this screen", id="app.help_f1"),
]
_BINS = Binding.Group("Bins± ", compact=True)  # the space: compact groups run into the next key
# fmt: on

# Shown in the inspector's footer only from 100 columns on (? lists them at any width).
WIDE_ONLY_KEYS = {
    "histogram.fewer", "histogram.more", "compare.open", "quant.open", "log.toggle",
    "app.train", "app.runs", "range.focus",  # at 80 columns "q Quit" was cut off the footer
}  # fmt: skip
NARROW_FOOTER = 100  # columns

# fmt: off
INSPECTOR_KEYS = [
    *HELP_KEYS,
    Binding("o", "focus_models", "Models", tooltip="Pick a model file", id="models.focus"),
    Binding("slash", "filter", "Filter", tooltip="Filter layers by name", id="layers.filter"),
    Binding("s", "rank", "Sort", show=False, tooltip="Tensors ranked by std, zeros, NaN/Inf or |max|, worst first; Enter jumps", id="layers.rank"),
    Binding("b", "focus_bins", "Bins", tooltip="Change the bin count", id="histogram.bins"),
    Binding("left_square_bracket", "step_bins(-1)", "Fewer bins", group=_BINS, id="histogram.fewer"),
    Binding("right_square_bracket", "step_bins(1)", "More bins", group=_BINS, id="histogram.more"),
    Binding("r", "focus_range", "Range", tooltip="Value-range analysis", id="range.focus"),
    Binding("i", "toggle_view", "Int/Float", tooltip="Integer or dequantized values", id="view.toggle"),
    Binding("e", "export", "Export", tooltip="Save the tensor's statistics as JSON", id="stats.export"),
    Binding("c", "capture", "Capture…", tooltip="Choose an input; Enter captures", id="activations.capture"),
    Binding("a", "toggle_activations", "Weights/Acts", tooltip="The layer's weights, its captured activation or its gradients", id="activations.toggle"),
    Binding("n", "next_output", "Next output", tooltip="The layer's next output tensor (tuple outputs, repeated calls)", id="activations.next"),
    Binding("d", "compare_reports", "Compare", tooltip="Diff two activation reports", id="compare.open"),
    Binding("Q", "quant_compare", "Quant", tooltip="Float vs quantized twin, layer by layer", id="quant.open"),
    Binding("ctrl+r", "reload", "Reload", show=False, tooltip="Reload the model", id="model.reload"),
    Binding("l", "toggle_log", "Log", tooltip="Show or hide the log", id="log.toggle"),
    Binding("escape", "cancel", "Cancel", tooltip="Stop loading or computing", id="work.cancel"),
]
# fmt: on

# The Quantization view (float vs quantized twin, layer by layer).
# fmt: off
QUANT_KEYS = [
    *HELP_KEYS,
    Binding("escape", "back", "Back", tooltip="Back to the inspector (stops a running comparison)", id="quant.back"),
    Binding("a", "toggle_tensor", "Weights/Acts", tooltip="Histograms of the weight or the layer's output", id="quant.tensor"),
    Binding("v", "toggle_overlay", "Overlay", show=False, tooltip="Histograms side by side or overlaid", id="quant.overlay"),
    Binding("f", "toggle_flagged", "Flagged", tooltip="Show only rows below the threshold", id="quant.flagged"),
    Binding("c", "copy_exclude", "Copy exclude", show=False, tooltip="Copy the suggested nodes_to_exclude", id="quant.copy_exclude"),
    Binding("n", "focus_inputs", "Inputs", tooltip="Compare on other inputs (digits:0-31, image.png...)", id="quant.inputs"),
    Binding("h", "focus_threshold", "Threshold", show=False, tooltip="Flag layers below another SQNR (dB)", id="quant.threshold"),
    Binding("g", "inspect_layer", "Inspect", show=False, tooltip="The selected row's layer, in the inspector", id="quant.inspect"),
    Binding("t", "next_twin", "Next twin", tooltip="Compare with the next quantized variant", id="quant.next_twin"),
    # Same key, hidden, for one twin: else t falls through to the app's t (Train).
    Binding("t", "one_twin", "Next twin", show=False, tooltip="Only one twin here", id="quant.one_twin"),
    Binding("e", "export", "Export", show=False, tooltip="Save the comparison as JSON", id="quant.export"),
]
# fmt: on

# Training: the Train screen's keys are ctrl+ chords because its form's inputs take plain letters.
# fmt: off
TRAIN_KEYS = [  # F1 shown: ? goes into the form's fields
    Binding("f1", "app.help", "Help", tooltip="Every key of this screen", id="app.help_f1"),
    Binding("ctrl+l", "launch", "Launch", tooltip="Start a run with the form's values", id="train.launch"),
    Binding("ctrl+t", "stop", "Stop run", tooltip="Stop the followed run gracefully", id="train.stop"),
    Binding("ctrl+r", "runs", "Runs", tooltip="All runs, running and finished", id="train.runs"),
    Binding("ctrl+g", "health", "Health", show=False, tooltip="The followed run's layer health", id="train.health"),
    Binding("escape", "back", "Back", tooltip="Back to the inspector (runs keep going)", id="train.back"),
]
RUNS_KEYS = [
    *HELP_KEYS,
    Binding("s", "stop", "Stop", tooltip="Stop the run gracefully (saves last.ckpt)", id="runs.stop"),
    Binding("e", "resume", "Resume", tooltip="Continue a stopped or failed run from last.ckpt", id="runs.resume"),
    Binding("m", "inspect_model", "Model", tooltip="Open the run's model.onnx in the inspector", id="runs.model"),
    Binding("c", "inspect_checkpoint", "Checkpoint", tooltip="Open the run's last.ckpt in the inspector", id="runs.checkpoint"),
    Binding("v", "view_confusion", "Confusion", show=False, tooltip="Latest confusion matrix: the system viewer, or drawn here without one (SSH)", id="runs.confusion"),
    Binding("p", "view_curves", "Curves", show=False, tooltip="Loss and accuracy: the system viewer, or drawn here without one (SSH)", id="runs.curves"),
    Binding("d", "compare_runs", "Compare", tooltip="Curves and hyperparameters of the marked runs (space marks)", id="runs.compare"),
    Binding("h", "health", "Health", show=False, tooltip="The run's layer health: layers x steps, alerts", id="runs.health"),
    Binding("n", "new_run", "New run", tooltip="The Train screen", id="runs.new"),
    Binding("r", "refresh", "Refresh", show=False, tooltip="Read the runs folder again", id="runs.refresh"),
    Binding("escape", "back", "Back", tooltip="Back to the inspector", id="runs.back"),
]
# fmt: on

# The compare view (two activation reports diffed).
# fmt: off
COMPARE_KEYS = [
    *HELP_KEYS,
    Binding("escape", "back", "Back", tooltip="Back to the inspector", id="compare.back"),
    Binding("s", "swap", "Swap A/B", tooltip="Make B the reference", id="compare.swap"),
    Binding("f", "flagged_only", "Flagged only", tooltip="Show only flagged tensors, or all", id="compare.flagged"),
    Binding("g", "inspect_row", "Inspect", tooltip="The row's layer and its histogram, in the inspector (also Enter)", id="compare.inspect"),
]
# fmt: on

# The runs compare view (curves overlaid, hyperparameters side by side).
# fmt: off
RUN_COMPARE_KEYS = [
    *HELP_KEYS,
    Binding("escape", "back", "Back", tooltip="Back to the runs", id="run_compare.back"),
    Binding("f", "differing_only", "Differences", tooltip="Only the hyperparameters that differ, or all", id="run_compare.differing"),
    Binding("r", "refresh", "Refresh", tooltip="Read the runs again (a live run has more epochs)", id="run_compare.refresh"),
]
# fmt: on

# The Layer health view (layers x steps heatmap of a run).
# fmt: off
HEALTH_KEYS = [
    *HELP_KEYS,
    Binding("escape", "back", "Back", tooltip="Back to where you came from", id="health.back"),
    Binding("v", "next_quantity", "Quantity", tooltip="Activation std, dead fraction, gradient norm, update ratio", id="health.quantity"),
    Binding("enter", "open_cell", "Inspect", tooltip="The checkpoint nearest the cursor's step, on its layer, in the inspector", id="health.open"),
    Binding("f", "first_alert", "First alert", tooltip="Move the cursor to the run's first alert", id="health.first_alert"),
    Binding("r", "refresh", "Refresh", show=False, tooltip="Read the health file again", id="health.refresh"),
]
# fmt: on
