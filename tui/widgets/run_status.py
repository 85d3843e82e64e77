"""The run's status box: state, epoch and step, loss, speed, elapsed time and ETA.

``RunState`` folds the events of ``events.jsonl`` into what the box shows; the numbers themselves
(loss, ETA, throughput) are the run's own, as its events callback wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

STATUS_STYLES = {
    "starting": "bold yellow",
    "running": "bold cyan",
    "finished": "bold green",
    "stopped": "bold yellow",
    "failed": "bold red",
}


def duration(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``); an em dash when unknown."""
    if seconds is None:
        return "—"
    s = max(0, int(round(seconds)))
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


@dataclass
class RunState:
    """What is known about one run from its events so far."""

    run_dir: Path
    status: str = "starting"  # until the run's first event: torch and Lightning are loading
    epoch: int | None = None
    max_epochs: int | None = None
    step: int | None = None
    total_steps: int | None = None
    loss: float | None = None
    lr: float | None = None
    speed: float | None = None
    elapsed: float | None = None
    eta: float | None = None
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per finished epoch
    # From the started event: what the run learns and the metric that ranks its epochs
    # (a script's own val_loss, lowest, as much as a recipe's val_acc, highest).
    task: str | None = None
    monitor: str | None = None
    mode: str | None = None
    warnings: list[str] = field(default_factory=list)  # a finished run's (a failed ONNX export)

    def apply(self, e: dict[str, Any]) -> None:
        """Fold one event in (see ``layerscope.engine.training.events`` for the kinds)."""
        kind = e.get("event")
        if kind in ("started", "resumed"):
            self.status, self.error, self.ended = "running", None, None
            self.max_epochs = e.get("max_epochs", self.max_epochs)
            self.total_steps = e.get("total_steps", self.total_steps)
            self.epoch, self.step = e.get("epoch", self.epoch), e.get("step", self.step)
            self.started = e.get("time", self.started)  # this session's: "took" excludes pauses
            self.task = e.get("task", self.task)
            self.monitor, self.mode = e.get("monitor", self.monitor), e.get("mode", self.mode)
            if kind == "resumed":  # history is kept: the curves go on where they left off
                self.history = [h for h in self.history if h["epoch"] < (self.epoch or 0)]
        elif kind == "progress":
            self.epoch, self.step = e.get("epoch"), e.get("step")
            self.total_steps = e.get("total_steps") or self.total_steps
            self.loss, self.lr = e.get("loss"), e.get("lr")
            self.speed, self.elapsed, self.eta = (
                e.get("samples_per_sec"), e.get("elapsed_s"), e.get("eta_s"),
            )  # fmt: skip
        elif kind == "epoch":
            self.epoch, self.step = e.get("epoch"), e.get("step", self.step)
            self.history.append({"epoch": e.get("epoch"), **e.get("metrics", {})})
        elif kind in ("finished", "stopped", "failed"):
            self.status, self.error = kind, e.get("error")
            self.ended, self.eta = e.get("time"), None
            self.warnings = [str(w) for w in e.get("warnings") or []]

    @property
    def best_acc(self) -> float | None:
        values = [h["val_acc"] for h in self.history if h.get("val_acc") is not None]
        return max(values) if values else None

    @property
    def best(self) -> tuple[str, float | None]:
        """(metric, best value so far): the run's monitored metric in its mode (as the engine's
        ``best_of`` ranks it), ``val_acc`` highest when the run names none."""
        metric = self.monitor or "val_acc"
        values = [v for h in self.history if isinstance(v := h.get(metric), int | float) and v == v]
        if not values:
            return metric, None
        if self.mode is None:  # the engine's rule: a loss lower, an accuracy higher
            from layerscope.engine.training.config import metric_mode

            self.mode = metric_mode(metric)
        return metric, (min(values) if self.mode == "min" else max(values))


class RunStatus(Widget):
    """Two short columns of facts about the followed run; a hint when none is followed."""

    DEFAULT_CSS = """
    RunStatus {
        height: auto;
        min-height: 3;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Run"
        self.state: RunState | None = None
        self.hint = (
            "No run followed: fill in the form and launch (ctrl+l), or open one from Runs (ctrl+r)."
        )

    def on_resize(self) -> None:
        self.refresh(layout=True)  # one or two pairs a row, by width

    def show(self, state: RunState | None) -> None:
        self.state = state
        self.border_title = f"Run {state.run_dir.name}" if state is not None else "Run"
        self.refresh(layout=True)

    @property
    def status_text(self) -> str:
        """The state as a word (tests and the screen's subtitle read it)."""
        return self.state.status if self.state is not None else ""

    def render(self) -> RenderResult:
        s = self.state
        if s is None:
            return Text(self.hint, "dim")
        epoch = "—" if s.epoch is None else f"{s.epoch + 1}/{s.max_epochs or '?'}"
        step = "—" if s.step is None else f"{s.step}/{s.total_steps or '?'}"
        if s.status == "starting":
            clock = ("ETA", "loading torch…")
        elif s.status == "running":
            clock = ("ETA", f"{duration(s.eta)} (elapsed {duration(s.elapsed)})")
        elif s.started is not None and s.ended is not None:
            clock = ("took", duration(s.ended - s.started))
        else:
            clock = ("ETA", "—")
        pairs: list[tuple[str, Text | str]] = [
            ("status", Text(s.status, STATUS_STYLES.get(s.status, "bold"))),
            clock,
            ("epoch", epoch),
            ("step", step),
            ("loss", _num(s.loss)),
            (f"best {s.best[0]}", _num(s.best[1])),
            ("lr", _num(s.lr, ".3g")),
            ("speed", "—" if s.speed is None else f"{s.speed:.0f} {_unit(s.task)}/s"),
        ]
        per_row = 2 if self.size.width >= 56 else 1  # one pair a row when the box is narrow
        table = Table.grid(padding=(0, 1), expand=True)
        for _ in range(per_row):
            table.add_column(style="dim", no_wrap=True)
            table.add_column(ratio=1, no_wrap=True)
        for i in range(0, len(pairs), per_row):
            table.add_row(*(cell for pair in pairs[i : i + per_row] for cell in pair))
        if s.error or s.warnings:
            out = Table.grid(expand=True)
            out.add_row(table)
            if s.error:
                out.add_row(Text(s.error, "red"))
            for warning in s.warnings:  # the log has it once already; here it stays in view
                out.add_row(Text(f"⚠ {warning}", "yellow"))
            return out
        return table


def _unit(task: str | None) -> str:
    return "img" if task in (None, "classification") else "samples"


def _num(value: float | None, fmt: str = ".4f") -> str:
    return "—" if value is None else format(value, fmt)
