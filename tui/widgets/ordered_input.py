"""An ``Input`` that handles its own key bindings in the order the keys arrived.

Textual's ``Input`` inserts a printable key as soon as it reaches the widget, but runs a bound
key (Backspace, Delete, arrows, Home/End) only after the key event has bubbled up to the app. In
a burst of keys - one read from the terminal, as over SSH or from a fast typist - the printable
keys after a bound key overtake it: ``b`` ⌫ ⌫ ``1`` ``0`` on "50" gave "50" instead of "10", and
Tab Tab Tab ``2`` in the Train form typed "2" into the first field instead of Devices.
Resolving bound keys in the widget's key handler keeps the order (issue 17, item 9; the same
happens in a bare Textual ``Input`` app, reported upstream with that reproduction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.widgets import Input

if TYPE_CHECKING:
    from textual.app import App


_SEEN = "_layerscope_seen_by_field"


def retarget(app: App[object], event: events.Key) -> bool:
    """A key that bubbled up to the app unseen by the field that has the focus now: the app gave
    it to another widget (the tree) before an earlier key of the burst (``b``, ``/``) moved the
    focus into the field. It is the field's, after that key: post it there (in order with the
    rest of the burst) instead of running the app's binding for it (``c``, ``s``, ``q``...).
    For ``App.on_event``; ``True`` when the key was passed on."""
    focused = app.focused
    if not isinstance(focused, OrderedInput) or getattr(event, _SEEN, False):
        return False
    event.stop()
    focused.post_message(events.Key(event.key, event.character))
    return True


class OrderedInput(Input):
    """``Input`` whose bound keys (its own and its parents') run in arrival order with the
    typed characters."""

    async def _on_key(self, event: events.Key) -> None:
        setattr(event, _SEEN, True)  # if it bubbles to the app, the app knows a field saw it
        focused = self.screen.focused
        if focused is not None and focused is not self:
            # The app handed this key over before an earlier key of the burst (a Tab) moved the
            # focus on: it belongs to the field that has the focus now, after those keys.
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        # The lookup the app makes once the key has bubbled up to it (the focus chain's
        # bindings: this field's Backspace, the form's Tab, the screen's ctrl+l), made here so
        # it happens before the next key of the burst is typed. An action that skips itself
        # (an Input's scroll on up/down) counts as unbound and the key goes on as before.
        if not event.is_printable and await self.app._check_bindings(event.key):
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)
