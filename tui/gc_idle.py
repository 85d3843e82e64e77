"""Full garbage collections while the user pauses, not between two keystrokes.

Each filter keystroke on a big tree leaves ~10,000 objects in reference cycles (Textual's tree
lines and cached strips), which only CPython's full collections free: with the default
thresholds one landed every few keys and added 15-25 ms to that key (bench_big's filter row).
The app raises the full-collection threshold ten-fold, and collects itself once input has
paused for ``IDLE_S`` with garbage pending; the raised threshold still bounds what a long burst
(a held key) can pile up. ``freeze_long_lived`` keeps the model out of these passes.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

IDLE_S = 0.5  # input paused this long: collect now
FULL_EVERY = 100  # gen-1 collections between automatic full ones (CPython's default is 10)


class IdleCollector:
    """Call :meth:`input_seen` on each input event and :meth:`tick` from a timer."""

    def __init__(
        self,
        idle_s: float = IDLE_S,
        clock: Callable[[], float] = time.monotonic,
        collect: Callable[[], object] = gc.collect,
        pending: Callable[[], int] = lambda: gc.get_count()[2],
    ) -> None:
        self.idle_s = idle_s
        self._clock, self._collect, self._pending = clock, collect, pending
        self._last_input = clock()
        self._saved: tuple[int, ...] | None = None
        self.collections = 0

    def install(self) -> None:
        """Raise the full-collection threshold (the process's: the app owns it while it runs)."""
        self._saved = gc.get_threshold()
        gc.set_threshold(self._saved[0], self._saved[1], FULL_EVERY)

    def uninstall(self) -> None:
        """The threshold as it was before :meth:`install`."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def input_seen(self) -> None:
        self._last_input = self._clock()

    def tick(self) -> bool:
        """Collect if input has paused and a full collection is due; True if it collected."""
        if self._clock() - self._last_input < self.idle_s or self._pending() == 0:
            return False
        self._collect()
        self.collections += 1
        return True
