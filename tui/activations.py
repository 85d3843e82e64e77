"""The app's capture session: ``engine.usecases.activations.CaptureSession``, answering in
``ActivationReady`` messages the inspector can post as they are.

The pipeline (capture, re-run at another bin count, exact range counts) lives in the engine;
this only wraps its answers for Textual.
"""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import TYPE_CHECKING

from engine.usecases.activations import CaptureSession
from tui.messages import ActivationReady

if TYPE_CHECKING:
    from engine.usecases.activations import ActivationAnswer


def _message(answer: ActivationAnswer | None) -> ActivationReady | None:
    if answer is None:
        return None
    return ActivationReady(**{f.name: getattr(answer, f.name) for f in fields(answer)})


class ActivationSession(CaptureSession):
    """A ``CaptureSession`` whose answers are ``ActivationReady`` messages."""

    def cached(  # type: ignore[override]
        self,
        layer: str,
        name: str,
        bins: int,
        low: float | None,
        high: float | None,
        view: str = "float",
    ) -> ActivationReady | None:
        return _message(super().cached(layer, name, bins, low, high, view))

    def fetch(  # type: ignore[override]
        self,
        layer: str,
        name: str,
        bins: int,
        low: float | None,
        high: float | None,
        cancel: threading.Event,
        view: str = "float",
    ) -> ActivationReady | None:
        return _message(super().fetch(layer, name, bins, low, high, cancel, view))
