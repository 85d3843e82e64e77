"""Full collections wait for a pause in the input (layerscope.tui.gc_idle), on a fake clock."""

from __future__ import annotations

import gc
from pathlib import Path

from layerscope.tui.gc_idle import FULL_EVERY, IDLE_S, IdleCollector


def _collector(pending: list[int]) -> tuple[IdleCollector, list[float], list[int]]:
    now = [0.0]
    calls: list[int] = []
    c = IdleCollector(
        clock=lambda: now[0],
        collect=lambda: calls.append(1) or pending.__setitem__(0, 0),
        pending=lambda: pending[0],
    )
    return c, now, calls


def test_no_collection_while_keys_come_one_after_another() -> None:
    pending = [3]
    c, now, calls = _collector(pending)
    for _ in range(20):  # a key every 0.1 s
        now[0] += 0.1
        c.input_seen()
        assert not c.tick()
    assert calls == []


def test_a_pause_with_garbage_pending_collects_once() -> None:
    pending = [3]
    c, now, calls = _collector(pending)
    c.input_seen()
    now[0] += IDLE_S
    assert c.tick()
    assert not c.tick()  # nothing pending any more
    assert calls == [1] and c.collections == 1


def test_a_pause_with_nothing_pending_does_not_collect() -> None:
    c, now, calls = _collector([0])
    now[0] += 10 * IDLE_S
    assert not c.tick()
    assert calls == []


def test_install_raises_only_the_full_collection_threshold() -> None:
    before = gc.get_threshold()
    try:
        c = IdleCollector()
        c.install()
        assert gc.get_threshold() == (before[0], before[1], FULL_EVERY)
        c.uninstall()
        assert gc.get_threshold() == before
    finally:
        gc.set_threshold(*before)


async def test_the_app_ticks_its_collector_and_sees_keys(tmp_path: Path) -> None:
    from layerscope.tui.app import LayerscopeApp

    app = LayerscopeApp(tmp_path, show_timings=False)
    before = gc.get_threshold()
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            seen = app._gc_idle._last_input
            await pilot.press("down")
            assert app._gc_idle._last_input > seen
            assert gc.get_threshold()[2] == FULL_EVERY
            assert any(t.name == "gc-idle" for t in app._timers)
        assert gc.get_threshold() == before  # the app gives the threshold back on exit
    finally:
        gc.set_threshold(*before)
