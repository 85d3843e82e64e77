"""The inspector's keys: which apply right now, and those that move focus, tune the view, or
open another model or view.

A mixin of ``InspectorScreen``, kept apart so each module stays readable: ``check_action`` (the
footer and the palette ask it), the footer refresh, and the actions that only touch controls or
post a navigation message. The screen keeps its workers and the actions that start or stop them.
Its handler uses Textual's ``on_<message>`` name (a mixin's ``@on`` handlers are not collected).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from textual.widgets import Input

from layerscope.tui.keys import NARROW_FOOTER, WIDE_ONLY_KEYS
from layerscope.tui.log import logger
from layerscope.tui.messages import ShowQuantization
from layerscope.tui.screens.inspector_capture import CAPTURE_ACTIONS
from layerscope.tui.screens.inspector_predict import PredictionWork

# The controls' widget classes are imported where they are used: the inspector mounts them after
# the first frame, which should not wait for their modules either.

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.widget import Widget

    from layerscope.engine.model import Model, TensorRef
    from layerscope.engine.stats import TensorStats
    from layerscope.tui.widgets.input_source import InputSource
    from layerscope.tui.widgets.layer_tree import LayerTree
    from layerscope.tui.widgets.model_picker import ModelPicker
    from layerscope.tui.widgets.tensor_view import TensorView

    _Host = Screen
else:
    _Host = object


class InspectorControls(PredictionWork, _Host):
    """``check_action``, the footer refresh, and the inspector's control and navigation keys
    (and, through ``PredictionWork``, the prediction shown after a capture)."""

    reveal_on_load: str | None = None  # the layer to show once the model loading now opens

    if TYPE_CHECKING:  # provided by InspectorScreen (and its CaptureWork)
        model: Model | None
        ref: TensorRef | None
        low: float | None
        high: float | None
        stats: TensorStats | None
        start_path: Path
        _keys_shown: tuple[bool, ...]
        _return_focus: Widget | None
        picker: ModelPicker
        tree: LayerTree
        tensor_view: TensorView
        capture_bar: InputSource
        capture_busy: bool

        bins: int

        def open_model(self, path: Path, *, trust: bool | None = None) -> None: ...
        def layer_highlighted(self) -> None: ...
        def list_models(self, folder: Path) -> None: ...

    @property
    def active_bindings(self) -> dict:  # type: ignore[override]
        """The footer's keys: at 80 columns the wide-only ones hide there (they still work;
        ? lists them). Key dispatch does not read this, only the footer does."""
        bindings = super().active_bindings  # type: ignore[misc]
        if self.size.width >= NARROW_FOOTER:
            return bindings
        return {
            key: active._replace(binding=replace(active.binding, show=False))
            if active.binding.id in WIDE_ONLY_KEYS else active
            for key, active in bindings.items()
        }  # fmt: skip

    def _key_state(self) -> tuple[bool, ...]:
        """What decides which keys work; the footer is rebuilt only when this changes."""
        quantized = self.ref is not None and self.ref.quant is not None
        spinning = self.tree.loading or self.tensor_view.busy or self.capture_busy
        return (
            self.model is not None, quantized, self.stats is not None, spinning,
            self.capture_bar.key_state(),
        )  # fmt: skip

    def sync_keys(self) -> None:
        """Refresh the footer's keys if they changed (rebuilding it on every step is slow)."""
        state = self._key_state()
        if state != self._keys_shown:
            self._keys_shown = state
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        has_model, quantized, has_stats, spinning, capture_keys = self._key_state()
        if action in CAPTURE_ACTIONS:
            return self.capture_bar.allows(action)
        if action == "toggle_view":  # a quantized weight, or an activation with stored integers
            return capture_keys[2] if self.capture_bar.showing_activations else quantized
        if action == "export":
            return has_stats
        if action in ("reload", "filter", "quant_compare", "rank"):
            return has_model
        if action == "cancel":
            return spinning  # shown while a spinner says something is running
        return True

    @property
    def filter_typing(self) -> bool:
        """The user is typing in the layer filter (the tree's cursor is not their choice yet)."""
        from layerscope.tui.widgets.layer_filter import LayerFilter

        return self.query_one(LayerFilter).has_focus

    def drop_range_for(self, ref: TensorRef | None) -> None:
        """Clear the value range when another tensor is shown: it was chosen for the last one."""
        if ref is self.ref or (self.low, self.high) == (None, None):
            return
        from layerscope.tui.widgets.range_inputs import RangeInputs

        self.low = self.high = None
        self.query_one(RangeInputs).reset()
        text = "Value range cleared: it was set for another tensor (r sets one here)."
        self.notify(text, title="Range", timeout=4)
        logger.info("{}", text)

    def action_rank(self) -> None:
        """Tensors ranked by a statistic, worst first; the one picked is shown here."""
        from layerscope.tui.screens.rank import RankScreen

        model = self.model
        if model is None:
            return

        def chosen(pick: tuple[str, str] | None) -> None:
            if pick is not None and self.model is model:
                self.show_tensor(*pick)

        self.app.push_screen(RankScreen(model, self.bins), chosen)

    def show_tensor(self, layer: str, role: str) -> None:
        """Reveal ``layer`` in the tree and show its ``role`` tensor."""
        assert self.model is not None
        here = self.tree.current_layer == layer  # then no highlight event comes: show it now
        if self.tree.reveal(layer) is None:
            return
        self.ref = self.model.layers[layer].tensors.get(role)  # the role the layer opens on
        self.tree.focus()
        if here:
            self.layer_highlighted()

    def focus_tree_unless_typing(self) -> None:
        """A model opened: the tree takes the keyboard, unless the user is typing in a field."""
        if not isinstance(self.focused, Input):
            self.tree.focus()

    def action_focus_models(self) -> None:
        self.picker.focus()

    def action_filter(self) -> None:
        from layerscope.tui.widgets.layer_filter import LayerFilter

        self.query_one(LayerFilter).open()

    def _focus_control(self, widget: Widget) -> None:
        """Focus a control, remembering where to return when the user presses Enter there."""
        if self.focused is not None and not isinstance(self.focused, Input):
            self._return_focus = self.focused
        # Now, not after a refresh (widget.focus()): the rest of a key burst is the field's.
        self.set_focus(widget)

    def on_input_submitted(self) -> None:
        """Enter in a control: back where the user came from."""
        (self._return_focus or self.tree).focus()

    def action_focus_bins(self) -> None:
        from layerscope.tui.widgets.bins_input import BinsInput

        self._focus_control(self.query_one(BinsInput))

    def action_step_bins(self, direction: int) -> None:
        from layerscope.tui.widgets.bins_input import BinsInput

        self.query_one(BinsInput).step(direction)

    def action_focus_range(self) -> None:
        self._focus_control(self.query_one("#range-low", Input))

    def action_clear_range(self) -> None:
        from layerscope.tui.widgets.range_inputs import RangeInputs

        self.query_one(RangeInputs).clear()

    def action_toggle_view(self) -> None:
        from layerscope.tui.widgets.view_toggle import ViewToggle

        if self.check_action("toggle_view", ()):
            self.query_one(ViewToggle).toggle()

    def action_toggle_log(self) -> None:
        from layerscope.tui.widgets.log_pane import LogPane

        log = self.query_one(LogPane)
        log.display = not log.display
        self.set_class(log.display, "-log-on")  # at 24 rows the tensor view then shares its rows

    def action_reload(self) -> None:
        if self.model is not None:
            self.open_model(self.model.path)

    def action_open_path(self) -> None:
        from layerscope.tui.screens.open_path import OpenPath

        start = str(self.picker.folder or self.start_path)

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            from layerscope.engine.discover import (
                opens_as_model,  # light: sniffs a few bytes, no torch
            )

            if not opens_as_model(path):  # a folder of models, x.safetensors files included
                self.list_models(path)
                self.picker.focus()
            else:
                self.open_model(path)

        self.app.push_screen(OpenPath(start), chosen)

    def action_quant_compare(self) -> None:
        """Open the Quantization view: the open model against its float/quantized twin."""
        from layerscope.engine.usecases.quant import find_twins, no_twin_message

        if self.model is None:
            return
        path, folder = self.model.path, self.picker.folder
        listed = folder is not None and folder.resolve() == path.parent.resolve()
        if listed and not find_twins(path, self.picker.groups):
            text = no_twin_message(path, self.picker.groups)
            self.notify(text, title="No quantized twin", severity="warning", timeout=10)
            logger.warning("{}", text)
            return
        self.post_message(ShowQuantization(path, self.picker.groups if listed else None))

    def reveal_layer(self, layer: str, path: Path) -> None:
        """Back from the Quantization view of ``path`` (g on a row): that layer, in the tree."""
        if self.model is not None and self.tree.reveal(layer) is not None:
            self.tree.focus()
        else:
            self.notify(f"{layer} is not a layer of {path.name}.", severity="warning")

    def take_reveal(self, model: Model) -> str | None:
        """The layer asked for with the model just loaded (Enter on a Layer health cell), once;
        ``None`` (and a warning) when the model has no such layer."""
        layer, self.reveal_on_load = self.reveal_on_load, None
        if layer is None or layer in model.layers:
            return layer
        text = f"{layer} is not a layer of {model.path.name}; showing its first layer."
        self.notify(text, severity="warning")
        logger.warning("{}", text)
        return None
