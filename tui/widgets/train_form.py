"""The new-run form: a config from ``configs/`` and its common fields, checked as they are typed.

The form only turns what was typed into ``--set`` overrides; the engine's ``load_config``
validates the whole config again before anything is launched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static

from layerscope.tui.widgets.ordered_input import OrderedInput

OPTIMIZERS = (
    "adam",
    "adamw",
    "sgd",
)  # as layerscope.engine.training.config.OPTIMIZERS (not imported: cheap)

# field id → (label, config key for --set)
FIELDS = {
    "lr": ("Learning rate", "optimizer.lr"),
    "epochs": ("Epochs", "trainer.max_epochs"),
    "batch": ("Batch size", "data.batch_size"),
    "devices": ("Devices", "trainer.devices"),
}


MAX_ACCELERATORS = 64  # per node; a typo such as 100 must not start a hundred processes


def check_field(field: str, text: str, accelerator: str = "auto") -> str | None:
    """The error for one typed value, or ``None`` when it is fine.

    Devices are capped: each device is a process, so on CPU more devices than cores (or a typo
    like 301) would swamp the machine before Lightning says anything.
    """
    text = text.strip()
    if field == "lr":
        try:
            value = float(text)
        except ValueError:
            return f"a number such as 0.001, not {text!r}" if text else "a number such as 0.001"
        if not value > 0 or value != value or value == float("inf"):
            return "must be greater than 0"
        return None
    if field in ("epochs", "batch"):
        if not text.isdigit() or int(text) < 1:
            return "a whole number, 1 or more"
        return None
    if field == "devices":
        if text.isdigit() and int(text) >= 1:
            cores = os.cpu_count() or 1
            if accelerator == "cpu" and int(text) > cores:
                return f"at most {cores} on CPU here (one process per device, {cores} cores)"
            if int(text) > MAX_ACCELERATORS:
                return f"at most {MAX_ACCELERATORS} per node"
            return None
        if text in ("auto", "-1"):
            return None
        parts = [p.strip() for p in text.split(",")]
        if len(parts) > 1 and all(p.isdigit() for p in parts):
            return None  # device indices, e.g. 0,1
        return "auto, a count (1, 2…), -1 for all, or indices like 0,1"
    if field == "name":
        if text and not all(c.isalnum() or c in "-_." for c in text):
            return "letters, digits, - _ . only"
    return None


def task_summary(task: Any) -> str:
    """What a run other than classification learns (a ``TaskConfig``), as a line for the form;
    empty for classification, whose loss and metric go without saying."""
    if task is None or task.kind == "classification":
        return ""
    metrics = ", ".join(task.resolved_metrics()) or "none"
    return (
        f"\n{task.kind} · loss {task.resolved_loss()} · metrics {metrics}"
        f" · best {task.resolved_monitor()} ({task.resolved_mode()})"
    )


class TrainForm(VerticalScroll):
    """Config picker, optimizer, learning rate, epochs, batch size, devices, run name, Launch."""

    BINDINGS = [  # a form: up/down walk its fields (Tab too); the selects open on them instead
        Binding("down", "app.focus_next", "Next field", show=False, id="train.next_field"),
        Binding("up", "app.focus_previous", "Previous field", show=False, id="train.prev_field"),
    ]
    DEFAULT_CSS = """
    TrainForm {
        height: auto;
        max-height: 100%;
        padding: 0 1;
    }
    TrainForm .row {
        height: auto;
    }
    TrainForm .row > Label {
        width: 14;
        height: 1;
        padding: 0 1 0 0;
        color: $text-muted;
    }
    TrainForm .row > Input, TrainForm .row > Select {
        width: 1fr;
    }
    TrainForm .field-error {
        display: none;
        color: $error;
        padding-left: 14;
    }
    TrainForm .field-error.-shown {
        display: block;
    }
    TrainForm #summary {
        color: $text-muted;
        padding: 1 0 0 0;
    }
    TrainForm #launch {
        margin-top: 1;
        width: 100%;
    }
    TrainForm #summary {
        height: auto;
    }
    /* The field that takes the keys: its label lights up (one shade lighter was not enough). */
    TrainForm .row.-focused > Label {
        background: $accent;
        color: $text;
        text-style: bold;
    }
    TrainForm .row > Input:focus {
        background: $accent 25%;
    }
    """

    @dataclass
    class ConfigChosen(Message):
        """The user picked another config file."""

        path: Path

    @dataclass
    class LaunchRequested(Message):
        """The form is valid and the user asked to launch."""

        config: Path
        overrides: list[str]
        name: str | None

    def __init__(self, configs: list[Path], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "New run"
        self.configs = configs
        self.errors: dict[str, str] = {}
        self.accelerator = "auto"  # the loaded config's: devices are checked against it

    def compose(self) -> ComposeResult:
        options = [(p.stem, p) for p in self.configs]
        with Horizontal(classes="row"):
            yield Label("Config")
            yield Select(
                options,
                value=self.configs[0] if self.configs else Select.BLANK,
                allow_blank=not self.configs,
                prompt="no configs found",
                compact=True,
                id="config",
            )
        with Horizontal(classes="row"):
            yield Label("Optimizer")
            yield Select(
                [(o, o) for o in OPTIMIZERS], value="adam", allow_blank=False, compact=True,
                id="optimizer",
            )  # fmt: skip
        for field, (label, _) in FIELDS.items():
            with Horizontal(classes="row"):
                yield Label(label)
                yield OrderedInput(compact=True, id=field)
            yield Static(classes="field-error", id=f"{field}-error")
        with Horizontal(classes="row"):
            yield Label("Run name")
            yield OrderedInput(placeholder="the config's name", compact=True, id="name")
        yield Static(classes="field-error", id="name-error")
        yield Static(id="summary")
        yield Button("Launch  ctrl+l", variant="primary", compact=True, id="launch")

    # -- focus ---------------------------------------------------------------------------------
    def on_descendant_focus(self) -> None:
        self._mark_focused_row()

    def on_descendant_blur(self) -> None:
        self.call_after_refresh(self._mark_focused_row)  # focus may move to another row

    def _mark_focused_row(self) -> None:
        focused = self.screen.focused if self.is_attached else None
        for row in self.query("Horizontal.row"):
            row.set_class(focused is not None and focused.parent is row, "-focused")

    # -- filling -------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path | None:
        value = self.query_one("#config", Select).value
        return value if isinstance(value, Path) else None

    def fill(self, cfg: Any) -> None:
        """Show a loaded ``RunConfig``'s values (and what the form does not edit, as a summary)."""
        with self.prevent(Select.Changed):
            optimizer = self.query_one("#optimizer", Select)
            optimizer.value = cfg.optimizer.name if cfg.optimizer.name in OPTIMIZERS else "adam"
        values = {
            "lr": f"{cfg.optimizer.lr:g}",
            "epochs": str(cfg.trainer.max_epochs),
            "batch": str(cfg.data.batch_size),
            "devices": str(cfg.trainer.devices),
        }
        for field, value in values.items():
            self.query_one(f"#{field}", Input).value = value
        t = cfg.trainer
        self.accelerator = str(t.accelerator)
        self.query_one("#summary", Static).update(
            f"{cfg.model.arch} on {cfg.data.kind} · {t.accelerator} · strategy {t.strategy}"
            + (f" · {t.num_nodes} nodes" if t.num_nodes > 1 else "")
            + task_summary(cfg.task)
        )

    def select_config(self, path: Path) -> None:
        select = self.query_one("#config", Select)
        if path in self.configs:
            select.value = path

    # -- checking ------------------------------------------------------------------------------
    def show_error(self, field: str, error: str | None) -> None:
        """Show (or clear) the inline error under ``field``."""
        if error:
            self.errors[field] = error
        else:
            self.errors.pop(field, None)
        label = self.query_one(f"#{field}-error", Static)
        label.update(f"↳ {error}" if error else "")
        label.set_class(bool(error), "-shown")
        self.query_one(f"#{field}", Input).set_class(bool(error), "-invalid")

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id in (*FIELDS, "name"):
            error = check_field(event.input.id, event.value, self.accelerator)
            self.show_error(event.input.id, error)

    @on(Select.Changed, "#config")
    def _config_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, Path):
            self.post_message(self.ConfigChosen(event.value))

    @on(Button.Pressed, "#launch")
    def _launch_pressed(self) -> None:
        self.submit()

    def submit(self) -> bool:
        """Check every field; post ``LaunchRequested`` if all are fine, else focus the first bad one."""
        for field in (*FIELDS, "name"):
            value = self.query_one(f"#{field}", Input).value
            self.show_error(field, check_field(field, value, self.accelerator))
        path = self.config_path
        if path is None:
            self.app.notify("No config to launch: add a YAML recipe to configs/.", severity="error")
            return False
        if self.errors:
            self.query_one(f"#{next(iter(self.errors))}", Input).focus()
            return False
        values = {f: self.query_one(f"#{f}", Input).value.strip() for f in FIELDS}
        overrides = [f"optimizer.name={self.query_one('#optimizer', Select).value}"]
        overrides += [f"{FIELDS[f][1]}={v}" for f, v in values.items()]
        name = self.query_one("#name", Input).value.strip() or None
        self.post_message(self.LaunchRequested(path, overrides, name))
        return True

    def launch_summary(self, config: Path, name: str | None) -> str:
        """What is about to run, as the form holds it: every field, devices included."""
        v = {f: self.query_one(f"#{f}", Input).value.strip() for f in FIELDS}
        optimizer = self.query_one("#optimizer", Select).value
        named = f"run name {name}" if name else f"run name {config.stem} (the config's)"
        return (
            f"{config.stem}: {optimizer} lr {v['lr']} · {v['epochs']} epochs · "
            f"batch {v['batch']} · devices {v['devices']} · {named}"
        )

    def error_for_key(self, message: str) -> bool:
        """Put an engine ``ConfigError`` under the field its key belongs to; False if none does."""
        for field, (_, key) in FIELDS.items():
            if key in message:
                self.show_error(field, message.split(": ", 1)[-1] if ": " in message else message)
                return True
        return False
