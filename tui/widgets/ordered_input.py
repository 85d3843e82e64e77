"""An ``Input`` that handles its own key bindings in the order the keys arrived.

Textual's ``Input`` inserts a printable key as soon as it reaches the widget, but runs a bound
key (Backspace, Delete, arrows, Home/End) only after the key event has bubbled up to the app. In
a burst of keys - one read from the terminal, as over SSH or from a fast typist - the printable
keys after a Backspace overtake it: ``b`` ⌫ ⌫ ``1`` ``0`` on "50" gave "50" instead of "10".
Running the widget's own bindings in its key handler keeps the order (issue 17, item 9; the same
happens in a bare Textual ``Input`` app, reported upstream with that reproduction).
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class OrderedInput(Input):
    """``Input`` whose own bound keys run in arrival order with the typed characters."""

    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, []):
                # Priority bindings already ran at the app; an action that skips itself (an
                # Input's scroll on up/down) leaves the key to the form or screen, as before.
                if not binding.priority and await self.app.run_action(binding.action, self):
                    event.stop()
                    event.prevent_default()
                    return
        await super()._on_key(event)
