"""The app's messages are written-out classes, not dataclasses (31 dataclasses cost the first
frame ~4 ms at import), and behave as the dataclasses did: fields in order, positional or by
name, defaults (fresh containers), equality by class and fields, the repr, unhashable."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from textual.message import Message

from layerscope.tui import messages

CLASSES = [
    cls
    for cls in vars(messages).values()
    if isinstance(cls, type) and issubclass(cls, Message) and cls.__module__ == messages.__name__
    and not cls.__name__.startswith("_")
]  # fmt: skip


def test_every_message_is_checked_and_none_is_a_dataclass() -> None:
    assert len(CLASSES) >= 31
    assert not [cls.__name__ for cls in CLASSES if dataclasses.is_dataclass(cls)]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_fields_in_order_positional_or_by_name(cls: type[Message]) -> None:
    fields = cls.__match_args__  # type: ignore[attr-defined]
    params = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in params] == list(fields)
    values = [object() for _ in fields]
    by_position, by_name = cls(*values), cls(**dict(zip(fields, values, strict=True)))
    assert [getattr(by_position, f) for f in fields] == values
    assert by_position == by_name and not (by_position != by_name)
    assert by_position.handler_name.startswith("on_")  # still a Textual message
    with pytest.raises(TypeError):
        hash(by_position)
    if fields:
        other = cls(*values[:-1], object())
        assert by_position != other
    shown = ", ".join(f"{f}={v!r}" for f, v in zip(fields, values, strict=True))
    assert repr(by_position) == f"{cls.__qualname__}({shown})"


def test_defaults() -> None:
    a, b = messages.ModelsListed(Path("x"), []), messages.ModelsListed(Path("x"), [])
    assert a.skipped == [] and a.skipped is not b.skipped
    stats = messages.StatsReady(None, "float", 64, None)  # type: ignore[arg-type]
    assert stats.in_range is None and stats.quant == {}
    assert messages.ActivationsCaptured(None, 1.0).prediction == []
    assert messages.FilterChanged("x").done is False
    assert messages.LogLine("x").level == "INFO"
    assert messages.TwinsFound(Path("x"), []).why == ""
    assert messages.ActivationViewChanged(True).gradients is False
    assert messages.DiffReady(None).about == ("", "")
    assert messages.ShowTrain().follow is None
    assert messages.OpenInInspector(Path("x")).layer is None
    assert messages.ShowQuantization(Path("x")).groups is None
    assert messages.CompareReports().session is None
    assert (
        messages.ShowRuns() == messages.ShowRuns() and messages.ShowRuns() != messages.ShowTrain()
    )


def test_replacing_messages_still_replace() -> None:
    assert messages.QuantProgress("a", 1, 2).can_replace(messages.QuantProgress("b", 2, 2))
    assert messages.CaptureProgress(1, None).can_replace(messages.CaptureProgress(2, None))
    assert messages.RunsListed(Path("r"), []).can_replace(messages.RunsListed(Path("r"), []))
    assert not messages.BinsChanged(1).can_replace(messages.BinsChanged(2))
