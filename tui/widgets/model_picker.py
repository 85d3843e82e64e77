"""The model picker: a folder's models, grouped by variant, with format and size."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.format import human_bytes
from tui.messages import ModelOpenRequested

if TYPE_CHECKING:
    from engine.discover import ModelGroup


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
        self.border_title = "Models"

    def show_groups(self, folder: Path, groups: list[ModelGroup]) -> None:
        """Replace the list with ``groups`` found in ``folder``."""
        self.folder = folder
        self.border_subtitle = folder.name or str(folder)
        self.clear_options()
        if not groups:
            self.add_option(
                Option(Text("no models here — ctrl+p › model: open", "dim"), disabled=True)
            )
            return
        options: list[Option] = []
        for group in groups:
            if len(group.entries) > 1:  # a header only where it groups several variants
                options.append(Option(Text(group.name, "bold"), disabled=True))
            for entry in group.entries:
                indent = "  " if len(group.entries) > 1 else ""
                label = Text.assemble(
                    (f"{indent}{entry.name}", "bold" if indent == "" else ""),
                    ("  ", ""),
                    (entry.format, "cyan"),
                    ("  ", ""),
                    (human_bytes(entry.size), "dim"),
                    no_wrap=True,
                    overflow="ellipsis",
                )
                options.append(Option(label, id=str(entry.path)))
        self.add_options(options)
        self.highlighted = next(i for i, o in enumerate(options) if not o.disabled)

    def highlight_path(self, path: Path) -> None:
        """Move the highlight to ``path`` when it is listed (the model that is open)."""
        try:
            self.highlighted = self.get_option_index(str(path))
        except Exception:  # OptionDoesNotExist: a model opened from elsewhere
            pass

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(ModelOpenRequested(Path(event.option.id)))
