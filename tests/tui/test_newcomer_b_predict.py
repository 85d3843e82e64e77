"""Issue 17, missing: after a capture, the model's prediction for the input (top-k classes,
named where the dataset's classes are known)."""

from __future__ import annotations

from pathlib import Path

from pilot_helpers import wait_idle

from layerscope.engine import load_model
from layerscope.engine.inputs import load_input, model_input_shape
from layerscope.engine.usecases.predict import predict


def test_engine_predicts_named_top_k(model_dir: Path) -> None:
    model = load_model(model_dir / "smallcnn.onnx")
    batch = load_input("digits:0-2", input_shape=model_input_shape(model))
    rows = predict(model, batch, k=3)
    assert [r.sample for r in rows] == [0, 1, 2]
    assert [r.truth for r in rows] == ["0", "1", "2"]
    for row in rows:
        assert len(row.top) == 3
        assert all(c.name in [str(i) for i in range(10)] for c in row.top)
        probs = [c.probability for c in row.top]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-9
    assert rows[0].line().startswith("#0 (true 0): ")


async def test_capture_shows_the_prediction(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        await pilot.press("c", "3", "enter")  # digits, sample 3
        await wait_idle(pilot)
        screen = app.screen
        assert screen.prediction and screen.prediction[0].startswith("#0 (true 3): ")
        notes = [n for n in app._notifications if n.title.startswith("Prediction")]
        assert notes and "(true 3)" in notes[-1].message
        assert any("Prediction digits" in line.text for line in app.backlog)
