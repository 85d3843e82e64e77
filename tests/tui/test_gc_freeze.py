"""The app freezes what is alive after a load out of full collections (typing stays smooth at
10,000 layers); a model dropped later and held only by a cycle must still be freed at the next
load, not kept for the rest of the session."""

from __future__ import annotations

import gc
import weakref

from layerscope.tui.screens.inspector_open import freeze_long_lived


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_a_cycle_frozen_at_one_load_is_freed_at_the_next() -> None:
    model = Node()
    alive = weakref.ref(model)
    freeze_long_lived()  # a load: the model is alive, so it is frozen
    assert gc.get_freeze_count() > 0
    del model  # the user opened another model; nothing refers to this one but itself
    gc.collect()
    assert alive() is not None  # frozen: full collections skip it, as intended while it lived
    freeze_long_lived()  # the next load
    assert alive() is None


def test_what_is_alive_after_a_load_is_frozen() -> None:
    model = Node()
    freeze_long_lived()
    tracked = {id(o) for o in gc.get_objects()}  # generations 0-2, not the frozen objects
    assert id(model) not in tracked
