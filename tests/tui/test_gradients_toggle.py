"""Gradients in the inspector: a target on the capture bar runs backward too, and the per-layer
toggle becomes Weights | Activations | Gradients with the same histogram, statistics, bins and
value range; the figures are torch.autograd's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pilot_helpers import wait_idle

from layerscope.engine import load_model
from layerscope.engine.capture import capture
from layerscope.engine.inputs import load_input, model_input_shape
from layerscope.tui.screens.inspector import InspectorScreen
from layerscope.tui.widgets.activation_toggle import ActivationToggle
from layerscope.tui.widgets.gradient_target import GradientTarget
from layerscope.tui.widgets.histogram import ORCHID, Histogram
from layerscope.tui.widgets.input_source import InputSource
from layerscope.tui.widgets.stats_panel import StatsPanel

SIZE = (120, 40)


def panel(app) -> dict[str, str]:
    return {k: str(v) for k, v in app.screen.query_one(StatsPanel).rows}


def bar(app) -> InputSource:
    return app.screen.query_one(InputSource)


def engine_gradients(path: Path, spec: str, target: object, **kwargs: object):
    model = load_model(path, arch="smallcnn")
    batch = load_input(spec, input_shape=model_input_shape(model))
    return capture(model, batch, gradients=True, target=target, **kwargs)


async def capture_with_target(pilot, target: str, index: str = "3") -> None:
    """Type the target into the bar's gradient field, then capture digits[index]."""
    app = pilot.app
    field = app.screen.query_one(GradientTarget).field
    field.value = target
    await pilot.press("c", *index, "enter")
    await wait_idle(pilot)


def autograd(path: Path, spec: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Output and parameter gradients of the mean cross-entropy for the predicted class,
    straight from torch.autograd (no layerscope code on the way)."""
    import torch

    model = load_model(path, arch="smallcnn")
    module = model.module.eval()
    x = torch.as_tensor(load_input(spec, input_shape=model_input_shape(model)).tensor).float()
    outs: dict[str, torch.Tensor] = {}

    def keep(name: str):  # noqa: ANN202
        def hook(_m, _a, out):  # noqa: ANN001, ANN202
            out.retain_grad()
            outs[name] = out

        return hook

    handles = [m.register_forward_hook(keep(n)) for n, m in module.named_modules() if n]
    module.zero_grad()
    logits = module(x)
    torch.nn.functional.cross_entropy(logits, logits.detach().argmax(1)).backward()
    for h in handles:
        h.remove()
    return (
        {n: t.grad.detach().numpy() for n, t in outs.items() if t.grad is not None},
        {n: p.grad.detach().numpy() for n, p in module.named_parameters()},
    )


async def test_gradients_side_shows_autograd_figures_for_outputs_and_parameters(
    model_dir: Path, make_app
) -> None:
    path = model_dir / "smallcnn.pt"
    app = make_app(path, arch="smallcnn")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        toggle = screen.query_one(ActivationToggle)
        assert screen.query_one(GradientTarget).display  # a torch model: backward can run
        await capture_with_target(pilot, "predicted")
        assert toggle.activations and not toggle.gradients and toggle.offers_gradients
        assert "Gradients" in str(toggle.render())
        await pilot.press("a")  # Activations -> Gradients
        await wait_idle(pilot)
        assert toggle.gradients
        assert screen.tree.current_layer == "features.0"
        assert screen.query_one(StatsPanel).border_title == "Gradient Statistics"
        histogram = screen.query_one(Histogram)
        assert histogram._args["role"] == "gradient" and ORCHID != (0, 0, 0)

        out_grads, param_grads = autograd(path, "digits:3")
        g = out_grads["features.0"]
        shown = panel(app)
        assert shown["tensor"] == "features.0" and shown["shape"] == "1×8×32×32"
        assert np.isclose(float(shown["mean"]), g.mean(), rtol=1e-4, atol=1e-4 * g.std())
        assert np.isclose(float(shown["std"]), g.std(), rtol=1e-4)
        assert np.isclose(float(shown["min"]), g.min(), rtol=1e-5)
        assert np.isclose(float(shown["max"]), g.max(), rtol=1e-5)
        expected = engine_gradients(path, "digits:3", "predicted")
        assert histogram.stats.counts == expected.gradients["features.0"].stats.counts
        assert "of 3 (n: next)" in bar(app).status.text  # the output, weight and bias

        await pilot.press("n")  # the layer's weight gradient
        await wait_idle(pilot)
        w = param_grads["features.0.weight"]
        shown = panel(app)
        assert shown["tensor"] == "features.0.weight"
        assert np.isclose(float(shown["std"]), w.std(), rtol=1e-4)
        assert np.isclose(float(shown["max"]), w.max(), rtol=1e-5)

        await pilot.press("a")  # Gradients -> Weights
        await wait_idle(pilot)
        assert not toggle.activations and screen.query_one(StatsPanel).border_title == "Statistics"


async def test_bins_and_range_apply_to_gradients(model_dir: Path, make_app) -> None:
    path = model_dir / "smallcnn.pt"
    app = make_app(path, arch="smallcnn")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        # Typed into the target field, Enter there captures (the index field keeps digits[3]).
        await pilot.press("c", "3")
        screen.query_one(GradientTarget).field.focus()
        await pilot.press("2", "enter")  # class 2
        await wait_idle(pilot)
        assert screen.query_one(ActivationToggle).offers_gradients
        await pilot.press("a")
        await wait_idle(pilot)
        await pilot.press("b", *"12", "enter")
        await wait_idle(pilot)
        at12 = engine_gradients(path, "digits:3", 2, bins=12).gradients["features.0"]
        assert screen.query_one(Histogram).stats.counts == at12.stats.counts
        await pilot.press("r", *"0", "enter", *"1", "enter")
        await wait_idle(pilot)
        kept = engine_gradients(path, "digits:3", 2, mode="tensors", keep=["features.0"])
        values = kept.gradients["features.0"].values.numpy()
        exact = int(((values >= 0) & (values <= 1)).sum())
        assert panel(app)["in [0, 1]"].startswith(f"{exact:,} (")
        assert screen.query_one(StatsPanel).border_title == "Gradient Statistics"


async def test_no_target_no_gradients_side_and_a_bad_target_is_one_line(
    model_dir: Path, make_app
) -> None:
    app = make_app(model_dir / "smallcnn.pt", arch="smallcnn")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen: InspectorScreen = app.screen  # type: ignore[assignment]
        toggle = screen.query_one(ActivationToggle)
        await capture_with_target(pilot, "")
        assert toggle.activations and not toggle.offers_gradients
        assert "Gradients" not in str(toggle.render())
        await pilot.press("a", "a")  # Weights, then Activations again: no third side
        await wait_idle(pilot)
        assert toggle.activations and not toggle.gradients

        await capture_with_target(pilot, "no_such_targets.npy")
        text = bar(app).status.text
        assert text.startswith("Capture failed") and "gradient target no_such_targets.npy" in text
        assert "\n" not in text and "Traceback" not in text


async def test_onnx_model_offers_no_gradient_target(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        assert not app.screen.query_one(GradientTarget).display
        assert app.screen.query_one(GradientTarget).spec is None
