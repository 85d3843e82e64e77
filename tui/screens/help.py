"""The help screen (``?`` or F1): every key of the screen underneath, and the app's own.

It reads the screens' ``BINDINGS`` (and the focused widget's), so a key added anywhere shows up
here without a second list to keep in step.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

_SKIP = {"app.help", "help"}  # the key that opened this screen needs no line
_TITLE = "\0"  # marks a section title among the lines


def _lines(app_keys: list[Binding], screen: Screen, get_key_display) -> list[str]:
    """One line per key: the key as the footer writes it, then what it does."""
    sections: list[tuple[str, list[Binding]]] = []
    focused = screen.focused
    if focused is not None and focused is not screen:
        own = [b for b in focused._bindings.key_to_bindings.values() for b in b]
        shown = [b for b in own if b.description and b.id]  # ours, not a text field's editing
        if shown:
            sections.append((f"In the focused {type(focused).__name__}", shown))
    screen_keys = [b for bs in screen._bindings.key_to_bindings.values() for b in bs if b.id]
    sections.append((f"{type(screen).__name__.removesuffix('Screen')} keys", screen_keys))
    sections.append(("Everywhere", [b for b in app_keys if b.id]))
    lines: list[str] = []
    seen: set[str] = set()
    for title, bindings in sections:
        rows = []
        for binding in bindings:
            if binding.action in _SKIP or binding.key in seen or not binding.description:
                continue
            seen.add(binding.key)
            what = binding.description
            if binding.tooltip and binding.tooltip != what:
                what = f"{what}: {binding.tooltip}"
            rows.append(f"{get_key_display(binding)}\t{what}")
        if rows:
            lines += [*([""] if lines else []), f"{_TITLE}{title}", *rows]
    lines += ["", f"{_TITLE}Commands", "ctrl+p\tpalette: every command of this screen, searchable"]
    lines.append("? / F1\tthis help (Escape closes it)")
    return lines


class HelpScreen(ModalScreen[None]):
    """The keys of ``screen`` (the one the user was on), in a scrollable box."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close2"),
        Binding("f1", "dismiss", "Close", show=False, id="help.close3"),
        Binding("q", "dismiss", "Close", show=False, id="help.close4"),
    ]
    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 100;
        height: 90%;
        border: round $accent;
        border-title-color: $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    def __init__(self, screen: Screen, app_keys: list[Binding]) -> None:
        super().__init__()
        self._lines = _lines(app_keys, screen, screen.app.get_key_display)

    @property
    def text(self) -> str:
        """The help as plain text (what the user reads)."""
        return "\n".join(self._lines).replace(_TITLE, "").replace("\t", "  ")

    def compose(self) -> ComposeResult:
        box = VerticalScroll()
        box.border_title = "Keys · Escape closes"
        with box:
            parts: list[Table | Text] = []
            table = None
            for line in self._lines:  # Text, not markup: keys such as [ and ] are text
                if line.startswith(_TITLE):
                    parts.append(Text(line.lstrip(_TITLE), "bold underline"))
                    table = Table.grid(padding=(0, 2))
                    table.add_column(no_wrap=True, min_width=6)
                    table.add_column()  # descriptions wrap under themselves, not the keys
                    parts.append(table)
                elif line and table is not None:
                    key, _, what = line.partition("\t")
                    table.add_row(Text(key, "bold"), Text(what))
                elif not line:
                    parts.append(Text(""))
            yield Static(Group(*parts))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
