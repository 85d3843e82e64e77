"""The app's capture session: ``layerscope.engine.usecases.activations.CaptureSession``, answering in
``ActivationReady`` messages the inspector can post as they are.

The pipeline (capture, re-run at another bin count, exact range counts) lives in the engine;
this only wraps its answers for Textual.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from layerscope.engine.usecases.activations import CaptureSession
from layerscope.tui.messages import ActivationReady

if TYPE_CHECKING:
    from layerscope.engine.capture import Activation
    from layerscope.engine.usecases.activations import ActivationAnswer


def _message(answer: ActivationAnswer | None) -> ActivationReady | None:
    if answer is None:
        return None
    return ActivationReady(answer)


class ActivationSession(CaptureSession):
    """A ``CaptureSession`` whose answers are ``ActivationReady`` messages."""

    def gradients_of(self, layer: str) -> list[Activation]:
        """The gradients the Gradients side shows for ``layer``: of each of its outputs, then of
        each of its own parameters (``n`` walks through them)."""
        result = self.result
        outputs = [
            result.gradients[a.name] for a in self.for_layer(layer) if a.name in result.gradients
        ]
        params = [g for g in result.parameter_gradients.values() if g.layer == layer]
        return outputs + params

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
