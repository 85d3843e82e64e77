"""A loguru sink that feeds the app's log pane from any thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from layerscope.tui import log
from layerscope.tui.messages import LogLine

if TYPE_CHECKING:
    from loguru import Logger, Message
    from textual.app import App


def add_sink(app: App, *, timestamps: bool = True) -> Callable[[], None]:
    """Route loguru records (INFO and up) to ``app`` as ``LogLine`` messages; returns the function
    that removes the sink again.

    ``post_message`` is thread-safe, so workers can log freely; the app hands lines to the pane.
    The sink is added once loguru is loaded (``layerscope.tui.log``: after the first frame, or at
    the first record, whichever comes first), so no record misses it.
    """
    fmt = "{time:HH:mm:ss} {message}" if timestamps else "{message}"
    sink_id: list[int] = []

    def sink(message: Message) -> None:
        app.post_message(LogLine(str(message).rstrip("\n"), message.record["level"].name))

    def add(logger: Logger) -> None:
        sink_id.append(logger.add(sink, format=fmt, level="INFO", colorize=False, catch=True))

    def remove() -> None:
        if not log.cancel(add) and sink_id:
            remove_sink(sink_id.pop())

    log.when_loaded(add)
    return remove


def remove_sink(sink_id: int) -> None:
    try:
        log.load().remove(sink_id)
    except ValueError:  # already removed
        pass
