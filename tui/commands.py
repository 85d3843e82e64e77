"""The command palette provider: the active screen's commands, as "group: verb" entries.

Every screen declares its commands in a ``PALETTE`` class attribute of (title, action, help);
this module only asks the active screen for them, so it imports no screen.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# The inspector's (title, action, help); its check_action decides which apply right now.
INSPECTOR_COMMANDS: list[tuple[str, str, str]] = [
    ("model: open path", "open_path", "Open a model file or a folder of models"),
    ("model: pick from list", "focus_models", "Move to the model picker"),
    ("model: reload", "reload", "Read the open model from disk again"),
    ("layers: filter", "filter", "Narrow the layer tree by name (/)"),
    (
        "layers: sort by a statistic",
        "rank",
        "Tensors by std, zeros, NaN/Inf or |max|, worst first (s)",
    ),
    ("histogram: change bins", "focus_bins", "Type a bin count (b)"),
    ("histogram: more bins", "step_bins(1)", "Next larger bin count (])"),
    ("histogram: fewer bins", "step_bins(-1)", "Next smaller bin count ([)"),
    ("range: set value range", "focus_range", "Count values between a low and high bound (r)"),
    ("range: clear", "clear_range", "Remove the value range"),
    ("view: toggle int/float", "toggle_view", "Integer values or dequantized floats (i)"),
    ("export: tensor statistics to JSON", "export", "Save the shown statistics (e)"),
    ("quant: compare with float twin", "quant_compare", "Float vs quantized, by layer (Q)"),
    ("train: new run", "app.train", "Pick a config, edit its common fields, launch (t)"),
    ("runs: list", "app.runs", "Training runs: follow, stop, inspect their models (R)"),
    ("activations: choose input", "capture", "Pick the input source and index (c)"),
    (
        "activations: capture",
        "run_capture",
        "Capture every layer's activation for the chosen input",
    ),
    (
        "activations: show weights/activations/gradients",
        "toggle_activations",
        "Next side of the selected layer's view; gradients after a capture with a target (a)",
    ),
    (
        "activations: next output of the layer",
        "next_output",
        "Tuple outputs and repeated calls (n)",
    ),
    (
        "activations: save capture as report",
        "save_report",
        "Write the capture as an activation report (JSON)",
    ),
    (
        "compare: two reports",
        "compare_reports",
        "Diff two activation reports; flagged layers highlighted (d)",
    ),
    (
        "compare: saved report with the capture",
        "compare_capture",
        "Diff a saved report (A) with the current capture (B)",
    ),
    ("log: show/hide", "toggle_log", "Show or hide the log pane (l)"),
    ("work: cancel", "cancel", "Stop loading or computing (Escape)"),
]


class LayerscopeCommands(Provider):
    """Offers the commands that apply on the current screen."""

    def _available(self) -> list[tuple[str, Callable[[], object], str]]:
        screen = self.screen
        commands = getattr(type(screen), "PALETTE", None) or []  # prompts declare none
        out = []
        for title, action, help_text in commands:
            name = action.split("(")[0]
            if screen.check_action(name, ()) is False:
                continue
            out.append((title, partial(screen.run_action, action), help_text))
        return out

    async def discover(self) -> Hits:
        for title, callback, help_text in self._available():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self._available():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


# The compare view (two activation reports diffed).
COMPARE_COMMANDS: list[tuple[str, str, str]] = [
    ("compare: swap A and B", "swap", "Make B the reference (s)"),
    ("compare: flagged only", "flagged_only", "Show only flagged tensors, or all (f)"),
    (
        "compare: inspect this layer",
        "inspect_row",
        "The row's layer and histogram, in the inspector (g)",
    ),
    ("compare: back", "back", "Back to the inspector (Escape)"),
]

# The Quantization view (float vs quantized twin).
QUANT_COMMANDS: list[tuple[str, str, str]] = [
    ("quant: copy exclude list", "copy_exclude", "Copy the nodes_to_exclude for quantize_static (c)"),
    ("quant: weights / activations", "toggle_tensor", "Histograms of the weight or the output (a)"),
    ("quant: overlay / side by side", "toggle_overlay", "Draw both histograms in one plot (v)"),
    ("quant: show only flagged rows", "toggle_flagged", "Hide rows above the threshold (f)"),
    ("quant: compare with next twin", "next_twin", "Another quantized variant of the model (t)"),
    ("quant: change inputs", "focus_inputs", "Compare on other inputs, e.g. digits:0-31 (n)"),
    ("quant: change threshold", "focus_threshold", "Flag layers below another SQNR (h)"),
    ("quant: export comparison to JSON", "export", "Save the comparison, as --json prints it (e)"),
    ("quant: inspect this layer", "inspect_layer", "Back to the inspector, on the selected row's layer (g)"),
    ("quant: inspect this layer", "inspect_layer", "The selected row's layer, in the inspector (g)"),
    ("quant: back to inspector", "back", "Leave the Quantization view (Escape)"),
]  # fmt: skip
