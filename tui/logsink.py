"""A loguru sink that feeds the app's log pane from any thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from layerscope.tui.messages import LogLine

if TYPE_CHECKING:
    from loguru import Message
    from textual.app import App


def add_sink(app: App, *, timestamps: bool = True) -> int:
    """Route loguru records (INFO and up) to ``app`` as ``LogLine`` messages; returns the sink id.

    ``post_message`` is thread-safe, so workers can log freely; the app hands lines to the pane.
    """
    from loguru import logger  # imported here: the sink is added after the first frame

    fmt = "{time:HH:mm:ss} {message}" if timestamps else "{message}"

    def sink(message: Message) -> None:
        app.post_message(LogLine(str(message).rstrip("\n"), message.record["level"].name))

    return logger.add(sink, format=fmt, level="INFO", colorize=False, catch=True)


def remove_sink(sink_id: int) -> None:
    from loguru import logger

    try:
        logger.remove(sink_id)
    except ValueError:  # already removed
        pass
