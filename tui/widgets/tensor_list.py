"""The tensor selector: the chosen layer's tensors (weight, bias, running stats, ...)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from layerscope.engine.formatting import shape_str

if TYPE_CHECKING:
    from layerscope.engine.model import Layer, TensorRef


class TensorList(OptionList):
    """One row per tensor: role, shape, dtype (and the integer type of quantized ones)."""

    DEFAULT_CSS = """
    TensorList {
        text-wrap: nowrap;
        text-overflow: ellipsis;
        height: auto;
        max-height: 8;
        min-height: 3;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Tensors"
        self.refs: list[TensorRef] = []

    def show_layer(self, layer: Layer | None) -> None:
        """List ``layer``'s own tensors; a hint when it has none (a container)."""
        refs = list(layer.tensors.values()) if layer is not None else []
        options = self._rows_for(layer, refs)
        rows = [(o.id, o.disabled) for o in options]
        if rows and rows == [(o.id, o.disabled) for o in self.options]:
            # The same rows as the layer before (weight, bias, ...): new prompts in place.
            # Re-listing changes the list's height for a moment, which lays the screen out.
            self.refs = refs
            for i, option in enumerate(options):
                self.replace_option_prompt_at_index(i, option.prompt)
            if refs:
                self.highlighted = 0
            return
        self.clear_options()
        self.refs = refs
        if options:
            self.add_options(options)
        if refs:
            self.highlighted = 0

    @staticmethod
    def _rows_for(layer: Layer | None, refs: list[TensorRef]) -> list[Option]:
        if layer is None:
            return []
        if not refs:
            n = len(layer.children)
            hint = f"container: {n} child layer{'s' * (n != 1)}" if n else "no tensors"
            return [Option(Text(hint, "dim italic"), disabled=True)]
        options = []
        for ref in refs:
            label = Text.assemble(
                (ref.role or ref.name, "bold"),
                " ",
                (shape_str(ref.shape), "cyan"),
                " ",
                (ref.dtype, "dim"),
            )
            if ref.quant is not None:
                label.append(" quantized", "magenta")
            options.append(Option(label, id=ref.role or ref.name))
        return options

    @property
    def current(self) -> TensorRef | None:
        """The highlighted tensor."""
        if self.highlighted is None or not self.refs or self.highlighted >= len(self.refs):
            return None
        return self.refs[self.highlighted]

    def select_role(self, role: str) -> bool:
        """Highlight the tensor with ``role`` if the layer has one (keeps weight→weight)."""
        for i, ref in enumerate(self.refs):
            if ref.role == role:
                self.highlighted = i
                return True
        return False
