"""The app's logger: loguru, imported on first use instead of before the first frame (~10 ms).

``logger`` stands in for ``loguru.logger``; the first attribute asked of it imports loguru. Set-up
that must precede any record (dropping the stderr sink, adding the log pane's) is registered with
``when_loaded`` and runs, under a lock, right after that import and before the first record.
The app loads it in its warm-up thread after the first frame (``load``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from loguru import Logger

Hook = Callable[["Logger"], None]

_lock = threading.RLock()  # re-entrant: a hook may log
_pending: list[Hook] = []
_loaded: Logger | None = None


def load() -> Logger:
    """loguru's logger, imported (and the pending set-up run) on the first call."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is None:
            from loguru import logger as real

            while _pending:
                _pending.pop(0)(real)
            _loaded = real
    return _loaded


def is_loaded() -> bool:
    return _loaded is not None


def when_loaded(hook: Hook) -> None:
    """Run ``hook(loguru's logger)`` now if ``load`` has run, else right after it does."""
    with _lock:
        if _loaded is None:
            _pending.append(hook)
            return
    hook(_loaded)


def cancel(hook: Hook) -> bool:
    """Drop ``hook`` if it has not run yet; whether it was dropped."""
    with _lock:
        if hook in _pending:
            _pending.remove(hook)
            return True
    return False


class _LazyLogger:
    """Forwards every attribute to loguru's logger, loading it first."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(load(), name)

    def __repr__(self) -> str:
        return f"<lazy {load()!r}>"


logger: Logger = cast("Logger", _LazyLogger())
