"""The model picker: a folder's models, grouped by variant, with format and size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from layerscope.engine.formatting import human_size
from layerscope.tui.messages import ModelOpenRequested

if TYPE_CHECKING:
    from layerscope.engine.discover import ModelGroup


# Narrow-column names for the formats ``layerscope.engine.discover`` reports.
SHORT_FORMATS = {
    "torch-zip": "torch",
    "torch-pickle": "pickle",
    "torchscript": "script",
    "safetensors": "st",
    "safetensors-sharded": "shards",
}


class ModelPicker(OptionList):
    """Lists model files and sharded folders; Enter opens the highlighted one."""

    DEFAULT_CSS = """
    ModelPicker {
        text-wrap: nowrap;
        text-overflow: ellipsis;
        height: auto;
        max-height: 10;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.folder: Path | None = None
        self.groups: list[ModelGroup] = []
        self._skipped: list[tuple[Path, str]] = []
        self._width = (
            0  # of the rows (0 before layout): a name that would be cut loses its group's name
        )
        self.border_title = "Models"

    def show_groups(
        self, folder: Path, groups: list[ModelGroup], skipped: Sequence[tuple[Path, str]] = ()
    ) -> None:
        """Replace the list with ``groups`` found in ``folder``; with none, the model-like files
        it ``skipped`` and why (an unreadable checkpoint must not just vanish)."""
        self.folder, self.groups, self._skipped = folder, groups, list(skipped)
        self.border_subtitle = folder.name or str(folder)
        self._width = self.scrollable_content_region.width
        self.clear_options()
        if not groups:
            for line in ("no models here", "ctrl+p › model: open path"):  # fits 80 columns
                self.add_option(Option(Text(line, "dim"), disabled=True))
            for path, reason in skipped:
                line = Text.assemble(("skipped ", "yellow"), (path.name, "bold"), f": {reason}")
                self.add_option(Option(line, disabled=True))
            return
        options: list[Option] = []
        for group in groups:
            grouped = len(group.entries) > 1
            # ⇄ marks the float/quantized twins the Quantization view (Q) compares.
            paired = {entry.path for pair in group.pairs() for entry in pair}
            if grouped:  # a header only where it groups several variants
                options.append(Option(Text(group.name, "bold"), disabled=True))
            for entry in group.entries:
                row = Table.grid(expand=True, padding=(0, 1))
                row.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
                row.add_column(style="cyan", no_wrap=True)
                row.add_column(style="dim", no_wrap=True, justify="right")
                shown = entry.name
                fmt = SHORT_FORMATS.get(entry.format, entry.format)
                room = self._width - 2 - len(fmt) - len(human_size(entry.size)) - 3  # gaps, margin
                if grouped and 0 < room < len(shown) and shown.startswith(group.name):
                    # Too narrow for whole names: the header names the model, the row its
                    # variant, so resnet8_int8.onnx and resnet8_uint8.onnx stay apart.
                    shown = "…" + shown[len(group.name) :]
                name = Text(f"  {shown}" if grouped else shown)
                if entry.path in paired:
                    name = Text.assemble(("⇄ ", "magenta"), shown)
                row.add_row(name, fmt, human_size(entry.size))
                options.append(Option(row, id=str(entry.path)))
        self.add_options(options)
        self.highlighted = next(i for i, o in enumerate(options) if not o.disabled)

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if self.folder is not None and self.groups and width != self._width:
            keep = self.highlighted
            self.show_groups(self.folder, self.groups, self._skipped)
            if keep is not None and keep < self.option_count:
                self.highlighted = keep

    def highlight_path(self, path: Path) -> None:
        """Move the highlight to ``path`` when it is listed (the model that is open).

        Paths are compared resolved: the engine may hand back a model it loaded earlier under
        another spelling of the same file (absolute vs relative).
        """
        target = path.resolve()
        for index, option in enumerate(self.options):
            if option.id and Path(option.id).resolve() == target:
                self.highlighted = index
                return

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(ModelOpenRequested(Path(event.option.id)))
