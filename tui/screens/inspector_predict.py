"""After a capture: what the model predicts for that input (top-3 classes per sample, named
where the dataset's classes are known), in a notification and the log.

A mixin of the inspector (through ``InspectorControls``): its own worker, so a capture's status
line and timing stay the capture's. A model whose output is not class scores gets no line; a
prediction that fails is logged, never a second error after a good capture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loguru import logger
from textual import work
from textual.message import Message
from textual.worker import get_current_worker

from tui.messages import ActivationsCaptured

if TYPE_CHECKING:
    from textual.screen import Screen

    _Host = Screen
else:
    _Host = object

SHOWN = 4  # samples in the notification; the log has them all


class PredictionReady(Message):
    def __init__(self, spec: str, lines: list[str]) -> None:
        super().__init__()
        self.spec = spec
        self.lines = lines


class PredictionWork(_Host):
    """Predicts once per capture; ``prediction`` holds the lines shown for the last one."""

    prediction: list[str] = []

    def on_activations_captured(self, message: ActivationsCaptured) -> None:
        # CaptureWork handles the same message (the capture bar); this adds the prediction.
        self.predict_capture(message.session)

    @work(thread=True, exclusive=True, group="predict", exit_on_error=False, description="predict")
    def predict_capture(self, session: Any) -> None:
        from engine.usecases.predict import predict

        try:
            rows = predict(
                session.model, session.batch, device=str(getattr(session, "device", "cpu"))
            )
        except Exception as exc:  # noqa: BLE001 - optional extra: the capture itself succeeded
            logger.warning("No prediction for this input: {}", exc)
            return
        if rows and not get_current_worker().is_cancelled:
            self.post_message(PredictionReady(session.batch.spec, [r.line() for r in rows]))

    def on_prediction_ready(self, message: PredictionReady) -> None:
        self.prediction = message.lines
        for line in message.lines:
            logger.info("Prediction {} {}", message.spec, line)
        more = len(message.lines) - SHOWN
        text = "\n".join(message.lines[:SHOWN]) + (
            f"\n… {more} more in the log (l)" if more > 0 else ""
        )
        self.notify(text, title=f"Prediction · {message.spec}", timeout=12)
