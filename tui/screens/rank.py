"""Rank the model's tensors by a statistic, worst first, and jump to one (``s`` in the inspector).

First the statistic (std, zero fraction, NaN/Inf count, largest |value|), then the ranked list;
Enter on a row dismisses with ``(layer, role)`` and the inspector shows that tensor. The engine
ranks in this screen's worker (``layerscope.engine.usecases.ranking``), cancelled by Escape.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option
from textual.worker import Worker, get_current_worker

from layerscope.engine.formatting import num
from layerscope.tui.workers import report_failure

if TYPE_CHECKING:
    from layerscope.engine.model import Model
    from layerscope.engine.usecases.ranking import Ranked

SHOWN = 200  # rows listed (the worst ones)


class RankingReady(Message):
    def __init__(self, key: str, rows: list[Ranked]) -> None:
        super().__init__()
        self.key = key
        self.rows = rows


class RankScreen(ModalScreen[tuple[str, str] | None]):
    """Pick a statistic, read the tensors worst first, Enter jumps to one."""

    BINDINGS = [Binding("escape", "close", "Back", id="rank.back")]
    DEFAULT_CSS = """
    RankScreen {
        align: center middle;
    }
    RankScreen > Vertical {
        width: 90%;
        max-width: 110;
        height: 90%;
        border: round $accent;
        border-title-color: $accent;
        background: $surface;
    }
    RankScreen #rank-hint {
        color: $text-muted;
        padding: 0 1;
    }
    RankScreen OptionList {
        height: 1fr;
        border: none;
    }
    """

    def __init__(self, model: Model, bins: int) -> None:
        super().__init__()
        self.model = model
        self.bins = bins
        self.key: str | None = None
        self.rows: list[Ranked] = []
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        from layerscope.engine.usecases.ranking import RANKINGS

        box = Vertical()
        box.border_title = f"Sort {self.model.path.name}'s tensors · worst first"
        box.border_subtitle = "Enter shows one · Escape closes"
        with box:
            yield Label("Rank by (Enter):", id="rank-hint")
            yield OptionList(
                *(Option(label, id=key) for key, (label, _, _) in RANKINGS.items()), id="rank-list"
            )
        yield Footer()

    @property
    def options(self) -> OptionList:
        return self.query_one("#rank-list", OptionList)

    @on(OptionList.OptionSelected, "#rank-list")
    def selected(self, event: OptionList.OptionSelected) -> None:
        if self.key is None:  # the statistic was chosen: rank by it
            self.key = event.option.id
            self.query_one("#rank-hint", Label).update(f"Ranking every tensor by {self.key}…")
            self.options.clear_options()
            self.rank(self.key)
        elif event.option.id is not None:  # a tensor: show it in the inspector
            row = self.rows[int(event.option.id)]
            self.dismiss((row.layer, row.role))

    @work(thread=True, exclusive=True, exit_on_error=False, description="ranking")
    def rank(self, key: str) -> None:
        from layerscope.engine.usecases.ranking import rank_tensors

        rows = rank_tensors(self.model, key, bins=self.bins, cancel=self._cancel)
        if not get_current_worker().is_cancelled:
            self.post_message(RankingReady(key, rows))

    @on(RankingReady)
    def ranking_ready(self, message: RankingReady) -> None:
        from layerscope.engine.usecases.ranking import RANKINGS

        self.rows = message.rows[:SHOWN]
        label = RANKINGS[message.key][0]
        more = f" (the worst {SHOWN})" if len(message.rows) > SHOWN else ""
        self.query_one("#rank-hint", Label).update(f"{len(message.rows)} tensors · {label}{more}")
        width = max((len(r.tensor) for r in self.rows), default=10)
        for i, row in enumerate(self.rows):
            value = f"{row.value:.1%}" if message.key == "zeros" else num(row.value)
            text = Text.assemble((row.tensor.ljust(width), "bold"), "  ", (value, "cyan"))
            self.options.add_option(Option(text, id=str(i)))
        self.options.highlighted = 0 if self.rows else None
        self.options.focus()

    @on(Worker.StateChanged)
    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        if report_failure(self, event, what="ranking") is not None:
            self.query_one("#rank-hint", Label).update("Ranking failed: see the notification.")

    def action_close(self) -> None:
        self._cancel.set()
        self.dismiss(None)
