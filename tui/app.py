"""The layerscope app: one inspector screen, a log sink, the command palette, and ``run_app``.

Kept light on purpose: this module imports no torch, ONNX or Lightning (directly or through
``engine``), so the first frame paints before any of them load. Workers import them later.
"""

from __future__ import annotations

import gc
import importlib
import sys
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App
from textual.binding import Binding

from layerscope.tui import log, navigation  # navigation imports the other screens on first use
from layerscope.tui.commands import LayerscopeCommands
from layerscope.tui.gc_idle import IdleCollector
from layerscope.tui.messages import (
    CompareReports,
    LogLine,
    OpenInInspector,
    ShowHealth,
    ShowQuantization,
    ShowRunCompare,
    ShowRuns,
    ShowTrain,
)
from layerscope.tui.screens.inspector import InspectorScreen

_PROCESS_START = time.perf_counter()  # close enough to process start: this is imported first


# Imported off the UI thread after the first frame: the plot (plotext) and the log's RichLog
# (rich.pretty), ~50 ms that the histogram and the log pane would otherwise import on it.
WARM_IMPORTS = ("layerscope.tui.widgets.plot_view", "textual.widgets._rich_log")


def _warm_imports(ready_seconds: float | None = None) -> None:
    # loguru first (its sinks are set up as it loads): workers log through it soon after.
    log.load()
    if ready_seconds is not None:
        log.logger.info("layerscope ready in {:.2f} s", ready_seconds)
    for name in WARM_IMPORTS:
        importlib.import_module(name)


class LayerscopeApp(App[int]):
    """Terminal UI over the engine; the inspector is its first (and default) screen."""

    CSS_PATH = "app.tcss"
    TITLE = "layerscope"
    COMMANDS = App.COMMANDS | {LayerscopeCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", tooltip="Leave layerscope", id="app.quit"),
        Binding("t", "train", "Train", tooltip="Launch a training run", id="app.train"),
        Binding("R", "runs", "Runs", tooltip="Training runs", id="app.runs"),
        Binding(
            "f1", "help", "Help", show=False, tooltip="Every key of this screen", id="app.help_f1"
        ),
    ]

    def __init__(
        self,
        path: str | Path = "models",
        *,
        trust: bool = False,
        device: str = "cpu",
        arch: str | None = None,
        show_timings: bool = True,
        arch_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.trust = trust
        self.device = device
        self.arch = arch
        self.arch_kwargs = arch_kwargs
        self.show_timings = show_timings  # tests turn these off so snapshots are stable
        self.backlog: deque[LogLine] = deque(maxlen=500)  # replayed into panes mounted later
        self._remove_sink: Callable[[], None] | None = None
        # Keys typed before the inspector has mounted its widgets (right after the first frame)
        # wait for them, in order; None once they have been let through.
        self._held_keys: list[events.Key] | None = []
        self._gc_idle = IdleCollector()
        # run_app(gc_paused=True): collection was paused for the start, resumed after its frame.
        self.resume_gc = False

    def get_default_screen(self) -> InspectorScreen:
        return InspectorScreen(
            self.path, trust=self.trust, device=self.device, arch=self.arch,
            arch_kwargs=self.arch_kwargs,
        )  # fmt: skip

    def on_load(self) -> None:
        from layerscope.tui.logsink import add_sink

        self._remove_sink = add_sink(self, timestamps=self.show_timings)  # once loguru loads

    def on_ready(self) -> None:
        if self.resume_gc:
            # What the start made lives as long as the app: frozen, no later collection walks it
            # (the first model's load unfreezes and collects, as after every load).
            self.resume_gc = False
            gc.freeze()
            gc.enable()
        # Full collections while input pauses, not between keystrokes (layerscope.tui.gc_idle).
        self._gc_idle.install()
        self.set_interval(0.25, self._gc_idle.tick, name="gc-idle")
        # After the first frame: what the inspector draws with next is imported in a thread, so
        # the UI thread finds it loaded rather than stalling on it (torch stays on demand);
        # loguru too, so the ready line is logged there.
        ready = time.perf_counter() - _PROCESS_START if self.show_timings else None
        self.run_worker(
            partial(_warm_imports, ready), thread=True, group="warm-up", exit_on_error=False,
            description="imports",
        )  # fmt: skip

    def on_unmount(self) -> None:
        self._gc_idle.uninstall()
        if self._remove_sink is not None:
            self._remove_sink()

    # -- navigation: screens post these messages; layerscope.tui.navigation knows where each leads ---------
    def action_train(self) -> None:
        navigation.show_train(self)

    def action_runs(self) -> None:
        navigation.show_runs(self)

    async def action_quit(self) -> None:
        """Quit; with a run going, ask once first (q again, or y, quits)."""
        going = navigation.runs_going(self)
        if not going:
            self.exit()
            return
        from layerscope.tui.screens.confirm import Confirm

        question = (
            f"{', '.join(going)} is still training. It keeps running after you quit "
            "(R lists it next time). Quit layerscope?"
        )
        if not isinstance(self.screen, Confirm):
            self.push_screen(Confirm(question, "Quit", again="q"), self._quit_answered)

    def _quit_answered(self, yes: bool | None) -> None:
        if yes:
            self.exit()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self._gc_idle.input_seen()
        if isinstance(event, events.Key) and not event.is_forwarded and self._hold_key(event):
            return
        # Keys of one burst that reached the tree before a key moved the focus into a field
        # belong to that field (issue 17 item 9): layerscope.tui.widgets.ordered_input.retarget.
        if isinstance(event, events.Key) and event.is_forwarded:
            # No field is an OrderedInput before its module is imported (after the first frame).
            ordered = sys.modules.get("layerscope.tui.widgets.ordered_input")
            if ordered is not None and ordered.retarget(self, event):
                return
        await super().on_event(event)

    def _hold_key(self, key: events.Key) -> bool:
        """Hold ``key`` while the inspector is not complete (checked by its keys' actions)."""
        if self._held_keys is None:
            return False
        bottom = self.screen_stack[0] if self.screen_stack else None
        if bottom is None or (isinstance(bottom, InspectorScreen) and not bottom.built):
            self._held_keys.append(key)
            return True
        if not self._held_keys:
            self._held_keys = None
            return False
        self._held_keys.append(key)  # after the keys held before it
        self.release_keys()
        return True

    def release_keys(self) -> None:
        """Let the keys held since start through, in order (the inspector calls this once it
        has mounted everything)."""
        held, self._held_keys = self._held_keys, None
        if held:
            self.call_next(self._replay_keys, held)  # before any key still queued

    async def _replay_keys(self, keys: list[events.Key]) -> None:
        for key in keys:
            await self.on_event(events.Key(key.key, key.character))

    def action_help(self) -> None:
        navigation.show_help(self)

    def on_show_train(self, message: ShowTrain) -> None:
        navigation.show_train(self, follow=message.follow)

    def on_show_runs(self, message: ShowRuns) -> None:
        navigation.show_runs(self)

    def on_show_run_compare(self, message: ShowRunCompare) -> None:
        navigation.show_run_compare(self, message.run_dirs)

    def on_open_in_inspector(self, message: OpenInInspector) -> None:
        navigation.open_in_inspector(self, message.path, message.layer)

    def on_show_health(self, message: ShowHealth) -> None:
        navigation.show_health(self, message.run_dir)

    def on_show_quantization(self, message: ShowQuantization) -> None:
        navigation.show_quantization(self, message.path, message.groups)

    def on_compare_reports(self, message: CompareReports) -> None:
        navigation.compare_reports(self, message.session)

    def on_log_line(self, message: LogLine) -> None:
        from layerscope.tui.widgets.log_pane import LogPane  # mounted after the first frame

        self.backlog.append(message)
        for pane in self.screen.query(LogPane):
            pane.add_line(message.text, message.level)


def run_app(
    path: str | Path = "models",
    *,
    trust: bool = False,
    device: str = "cpu",
    arch: str | None = None,
    arch_kwargs: dict[str, Any] | None = None,
    gc_paused: bool = False,
) -> int:
    """Run the app full-screen until the user quits; the process exit status.

    ``gc_paused``: the caller disabled cyclic garbage collection before importing the app (the
    CLI does: the start makes only long-lived objects, and collecting as they pile up cost the
    first frame ~10-15 ms); the app enables it again after its first frame.
    """
    # The default stderr sink would scribble over the screen: dropped as loguru loads.
    log.when_loaded(lambda logger: logger.remove())
    app = LayerscopeApp(path, trust=trust, device=device, arch=arch, arch_kwargs=arch_kwargs)
    app.resume_gc = gc_paused
    result = app.run()
    return int(result or 0) if app.return_code is None else app.return_code
