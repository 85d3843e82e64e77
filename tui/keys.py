"""The inspector's key bindings in one place, each with an ``id`` so users can remap it."""

from __future__ import annotations

from textual.binding import Binding

# fmt: off
INSPECTOR_KEYS = [
    Binding("o", "focus_models", "Models", tooltip="Pick a model file", id="models.focus"),
    Binding("slash", "filter", "Filter", tooltip="Filter layers by name", id="layers.filter"),
    Binding("b", "focus_bins", "Bins", tooltip="Change the bin count", id="histogram.bins"),
    Binding("right_square_bracket", "step_bins(1)", "More bins", show=False, id="histogram.more"),
    Binding("left_square_bracket", "step_bins(-1)", "Fewer bins", show=False, id="histogram.fewer"),
    Binding("r", "focus_range", "Range", tooltip="Value-range analysis", id="range.focus"),
    Binding("i", "toggle_view", "Int/Float", tooltip="Integer or dequantized values", id="view.toggle"),
    Binding("e", "export", "Export", tooltip="Save the tensor's statistics as JSON", id="stats.export"),
    Binding("ctrl+r", "reload", "Reload", show=False, tooltip="Reload the model", id="model.reload"),
    Binding("l", "toggle_log", "Log", show=False, tooltip="Show or hide the log", id="log.toggle"),
    Binding("escape", "cancel", "Cancel", tooltip="Stop loading or computing", id="work.cancel"),
]
# fmt: on
