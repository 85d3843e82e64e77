"""After a capture: what the model predicts for that input (top-3 classes per sample, named
where the dataset's classes are known), in a notification and the log.

The capture's worker predicts after the capture (its timing stays the capture's) and sends the
lines with ``ActivationsCaptured``; this mixin of the inspector (through ``InspectorControls``)
shows them. A model whose output is not class scores gets no line; a prediction that fails is
logged, never a second error after a good capture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from layerscope.tui.log import logger
from layerscope.tui.messages import ActivationsCaptured

if TYPE_CHECKING:
    from textual.screen import Screen

    _Host = Screen
else:
    _Host = object

SHOWN = 4  # samples in the notification; the log has them all


def predict_lines(session: Any) -> list[str]:
    """The prediction's lines for a finished capture (run in the capture's worker); ``[]`` when
    the output is not class scores or predicting fails (logged: the capture itself succeeded)."""
    from layerscope.engine.usecases.predict import predict

    try:
        rows = predict(session.model, session.batch, device=str(getattr(session, "device", "cpu")))
    except Exception as exc:  # noqa: BLE001 - optional extra: the capture itself succeeded
        logger.warning("No prediction for this input: {}", exc)
        return []
    return [r.line() for r in rows or []]


class PredictionWork(_Host):
    """Shows the prediction that came with each capture; ``prediction`` holds the last one."""

    prediction: list[str] = []

    def on_activations_captured(self, message: ActivationsCaptured) -> None:
        # CaptureWork handles the same message (the capture bar); this adds the prediction.
        if message.prediction:
            self.show_prediction(message.session.batch.spec, message.prediction)

    def show_prediction(self, spec: str, lines: list[str]) -> None:
        self.prediction = lines
        for line in lines:
            logger.info("Prediction {} {}", spec, line)
        more = len(lines) - SHOWN
        text = "\n".join(lines[:SHOWN]) + (f"\n… {more} more in the log (l)" if more > 0 else "")
        self.notify(text, title=f"Prediction · {spec}", timeout=12)
