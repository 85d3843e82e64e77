"""One cancellation class in the engine and one worker error/cancel handler in the app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from loguru import logger
from textual.worker import WorkerState

from layerscope.engine.errors import Cancelled, InputError, LayerscopeError

TUI = Path(__file__).resolve().parents[2] / "tui"


class FakeNode:
    """Records what a screen would have been asked to notify."""

    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = []

    def notify(self, message: str, **kwargs: Any) -> None:
        self.notes.append({"message": message, **kwargs})


def event(error: BaseException | None, state: WorkerState = WorkerState.ERROR) -> Any:
    return SimpleNamespace(state=state, worker=SimpleNamespace(error=error, description="capture"))


@pytest.fixture
def log() -> Iterator[list[tuple[str, str]]]:
    lines: list[tuple[str, str]] = []
    sink = logger.add(lambda m: lines.append((m.record["level"].name, m.record["message"])))
    yield lines
    logger.remove(sink)


def test_engine_cancellations_share_one_torch_free_class() -> None:
    from layerscope.engine.capture.result import CaptureCancelled
    from layerscope.engine.quant_compare import ComparisonCancelled

    assert issubclass(Cancelled, LayerscopeError)
    assert issubclass(CaptureCancelled, Cancelled)
    assert issubclass(ComparisonCancelled, Cancelled)
    assert Cancelled("stopped").title == "Cancelled"


def test_cancellation_is_logged_quietly(log: list[tuple[str, str]]) -> None:
    from layerscope.engine.capture.result import CaptureCancelled
    from layerscope.tui.workers import report_failure, was_cancelled

    node = FakeNode()
    ev = event(CaptureCancelled("capture cancelled"))
    assert report_failure(node, ev) is None  # type: ignore[arg-type]
    assert was_cancelled(ev)
    assert node.notes == []
    assert log == [("INFO", "Capture cancelled")]


def test_engine_error_is_a_notification_with_its_title(log: list[tuple[str, str]]) -> None:
    from layerscope.tui.workers import report_failure

    node = FakeNode()
    failure = report_failure(node, event(InputError("nowhere.png: no such file")))  # type: ignore[arg-type]
    assert failure is not None and failure.title == "Bad input"
    assert node.notes == [
        {"message": "nowhere.png: no such file", "title": "Bad input", "severity": "error",
         "timeout": 10},
    ]  # fmt: skip
    assert log == [("ERROR", "Bad input: nowhere.png: no such file")]


def test_unexpected_error_is_an_error_notification_and_a_log_line(
    log: list[tuple[str, str]],
) -> None:
    from layerscope.tui.workers import report_failure

    node = FakeNode()
    failure = report_failure(node, event(ZeroDivisionError("division by zero")))  # type: ignore[arg-type]
    assert failure is not None and failure.text == "ZeroDivisionError: division by zero"
    assert node.notes[0]["title"] == "Unexpected error" and node.notes[0]["severity"] == "error"
    assert log == [("ERROR", "Unexpected error: ZeroDivisionError: division by zero")]


def test_success_and_textual_cancel_say_nothing(log: list[tuple[str, str]]) -> None:
    from layerscope.tui.workers import report_failure

    node = FakeNode()
    for state in (WorkerState.SUCCESS, WorkerState.CANCELLED):
        assert report_failure(node, event(None, state)) is None  # type: ignore[arg-type]
    assert node.notes == [] and log == []


def test_no_screen_or_widget_keeps_its_own_copy_of_the_handler() -> None:
    """Cancellation is recognised one way (``layerscope.tui.workers``), not by title or engine class."""
    copies = []
    for path in sorted(TUI.rglob("*.py")):
        if path.name == "workers.py":
            continue
        text = path.read_text(encoding="utf-8")
        for needle in ('"Unexpected error"', 'title == "Cancelled"', "CaptureCancelled",
                       "ComparisonCancelled"):  # fmt: skip
            if needle in text:
                copies.append(f"{path.relative_to(TUI.parent)}: {needle}")
    assert not copies, copies
