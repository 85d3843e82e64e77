"""Figures rendered off the training thread (private).

Drawing a PNG with matplotlib costs tenths of a second; done inline at every epoch end it adds
up to more than the 10% overhead budget. One daemon thread renders submitted figures while
training continues; a newer figure for the same path replaces a stale queued one, and callbacks
call :func:`flush` at the end of fit so every PNG exists before the run reports ``finished``.
Only the object-oriented Matplotlib API is used (no pyplot state), from that one thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from engine.training.io import save_figure


class Renderer:
    """A single background worker that builds and saves figures, latest-wins per path."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._pending: dict[Path, Callable[[], Any]] = {}
        self._busy = False
        self._thread: threading.Thread | None = None

    def submit(self, path: Path, build: Callable[[], Any], background: bool = True) -> None:
        """Render ``build()`` (a Figure) to ``path``; inline when ``background`` is false."""
        if not background:
            save_figure(build(), path)
            return
        with self._cv:
            self._pending.pop(path, None)  # re-insert: keeps submission order, drops the stale one
            self._pending[path] = build
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="layerscope-render", daemon=True
                )
                self._thread.start()
            self._cv.notify_all()

    def flush(self, timeout: float | None = 120.0) -> bool:
        """Wait until every submitted figure is on disk; False if ``timeout`` passed first."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: bool(self._pending))
                path = next(iter(self._pending))
                build = self._pending.pop(path)
                self._busy = True
            try:
                save_figure(build(), path)
            except Exception:  # a broken plot must not take the run down; it is logged
                logger.exception("could not render {}", path)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()


renderer = Renderer()
