"""One worker error/cancel handler for every screen.

Screens own their workers (``exit_on_error=False``) and call :func:`report_failure` from their
``Worker.StateChanged`` handler. A cancellation (the engine's ``layerscope.engine.errors.Cancelled``, which
capture and comparison cancellations subclass) is logged quietly; a ``LayerscopeError`` becomes an
error notification with its own title; anything else an "Unexpected error" notification. Both
failures also go to the log. The screen gets the failure back to show it in place as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.dom import DOMNode
from textual.worker import Worker, WorkerState

from layerscope.engine.errors import Cancelled, LayerscopeError  # torch-free
from layerscope.tui.log import logger


@dataclass(frozen=True)
class Failure:
    """Why a worker failed, as the user was told: the notification's title and text."""

    title: str
    text: str
    error: BaseException


def is_cancelled(error: BaseException | None) -> bool:
    """Whether ``error`` is the engine saying the work was cancelled (not a failure)."""
    return isinstance(error, Cancelled)


def was_cancelled(event: Worker.StateChanged) -> bool:
    """The worker was cancelled: by Textual (``cancel_group``, exclusive) or by the engine."""
    return event.state == WorkerState.CANCELLED or (
        event.state == WorkerState.ERROR and is_cancelled(event.worker.error)
    )


def describe(error: BaseException) -> tuple[str, str]:
    """(title, one-line text) for ``error``: an engine error's own, else its type and message."""
    if isinstance(error, LayerscopeError):
        return error.title, error.message
    return "Unexpected error", f"{type(error).__name__}: {error}"


def report_failure(
    node: DOMNode, event: Worker.StateChanged, *, what: str = "", title: str | None = None
) -> Failure | None:
    """Tell the user why the worker failed; ``None`` when it did not fail (or was cancelled).

    ``what`` names the work in the quiet log line of an engine cancellation ("Capture
    cancelled"; default: the worker's description). ``title`` replaces the error's own title.
    """
    if event.state != WorkerState.ERROR:
        return None
    worker = event.worker
    error = worker.error
    if error is None:
        return None
    if is_cancelled(error):
        name = what or worker.description or "Work"
        logger.info("{} cancelled", name[:1].upper() + name[1:])
        return None
    own_title, text = describe(error)
    shown = title or own_title
    node.notify(text, title=shown, severity="error", timeout=10)
    logger.error("{}: {}", shown, text)
    return Failure(shown, text, error)
