"""Issue 17, "Polish that misleads": whole-number count axes, an int32 bias histogram over its
own values, names the picker does not cut, safetensors layers in the file's order, no log
placeholder on first start, ONNX Runtime's fused activation names said as such."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from fake_runs import wait_for
from pilot_helpers import wait_idle

from layerscope.engine.formatting import count_ticks
from layerscope.engine.inspect import tensor_stats
from layerscope.engine.model import QuantInfo, TensorRef
from layerscope.engine.stats import compute
from layerscope.tui.widgets.histogram import Histogram

SIZE = (120, 40)


def y_labels(plot_text: str) -> list[str]:
    plot_text = re.sub(r"\x1b\[[0-9;]*m", "", plot_text)  # colours off
    return [m.strip() for m in re.findall(r"^\s*([^\s│┤]+)┤", plot_text, re.MULTILINE)]


async def test_count_axis_labels_are_whole_numbers(model_dir: Path, make_app) -> None:
    app = make_app(model_dir / "smallcnn.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        hist = app.screen.query_one(Histogram)
        hist.show(compute(np.array([0.0] * 16 + [1.0] * 3 + [2.0], np.float32), 3))
        await pilot.pause()
        labels = y_labels(hist.plt.build())
        assert labels and all(re.fullmatch(r"\d+(\.\dK)?", label) for label in labels), labels
        assert "16.8" not in labels


def test_count_ticks_are_one_two_five_steps() -> None:
    assert count_ticks(16.8, 4) == ([0.0, 5.0, 10.0, 15.0], ["0", "5", "10", "15"])
    assert count_ticks(0, 3) == ([0.0, 1.0], ["0", "1"])
    # A plot with room for one label above 0 still gets it (not 0 alone).
    assert count_ticks(12.6, 1) == ([0.0, 10.0], ["0", "10"])


def test_int32_bias_is_binned_over_its_own_values() -> None:
    values = np.array([-500, -20, 3, 90, 700] * 3 + [11], np.int32)
    quant = QuantInfo(np.array([1e-4]), np.array([0]), None, "int32", "qdq")
    ref = TensorRef("fc.bias", (16,), "int32", lambda: values, quant=quant)
    s = tensor_stats(ref, bins=50, view="int")
    assert s.edges[0] >= -500 and s.edges[-1] <= 700
    assert sum(1 for c in s.counts if c) >= 5  # the values apart, not one bar
    q8 = QuantInfo(np.array([0.1]), np.array([0]), None, "int8", "qdq")
    ref8 = TensorRef("w", (3,), "int8", lambda: np.array([-3, 0, 5], np.int8), quant=q8)
    assert tensor_stats(ref8, bins=256, view="int").edges[0] == -128.5  # int8: the whole range


async def test_the_picker_tells_variants_apart_at_80_columns(
    model_dir: Path, tmp_path: Path, make_app
) -> None:
    import shutil

    folder = tmp_path / "m"
    folder.mkdir()
    for name in ("resnet8.onnx", "resnet8_int8.onnx", "resnet8_uint8.onnx"):
        shutil.copy(model_dir / "smallcnn.onnx", folder / name)
    app = make_app(folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_idle(pilot)
        picker = app.screen.picker
        text = "\n".join(
            "".join(seg.text for seg in line)
            for line in picker.render_lines(picker.region.reset_offset)
        )
        assert "…_int8.onnx" in text, text  # the variant is shown, not cut to resnet8_i…
        assert not re.search(r"resnet8_\w*…", text), text


def test_safetensors_layers_keep_the_files_order(tmp_path: Path) -> None:
    import json

    from safetensors.numpy import save_file

    from layerscope.engine.loaders import load_model

    order = ["stem.weight", "body.weight", "head.weight"]  # model order, not alphabetical
    tensors = {n: np.ones((2, 2), np.float32) for n in order}
    save_file(tensors, str(tmp_path / "m.safetensors"), metadata={"order": json.dumps(order)})
    model = load_model(tmp_path / "m.safetensors")
    assert [n for n in model.layers if n in ("stem", "body", "head")] == ["stem", "body", "head"]
    save_file(tensors, str(tmp_path / "plain.safetensors"))  # no order kept: natural sort
    plain = load_model(tmp_path / "plain.safetensors")
    assert [n for n in plain.layers if n in ("stem", "body", "head")] == ["body", "head", "stem"]


def test_fused_onnx_names_are_said() -> None:
    from layerscope.engine.usecases.activations import fused_name_note

    note = fused_name_note("/relu/Relu_output_0", "Conv")
    assert "Conv output" in note and "Relu" in note
    assert fused_name_note("/conv1/Conv_output_0", "Conv") == ""
    assert fused_name_note("/relu/Relu_output_0_QuantizeLinear_Output", "QuantizeLinear") == ""


async def test_an_int8_onnx_activation_named_after_a_fused_relu_says_so(
    model_dir: Path, make_app
) -> None:
    app = make_app(model_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        await pilot.press("c", "3", "enter")
        await wait_idle(pilot)
        screen = app.screen
        session = screen.capture_bar.session
        fused = [(n, a) for n, a in session.result.activations.items() if "Relu_output" in n]
        assert fused and fused[0][1].kind == "Conv"  # what ONNX Runtime's quantizer does
        screen.tree.reveal(fused[0][1].layer)  # the cursor moves on the next refresh
        await wait_for(pilot, lambda: screen.tree.current_layer == fused[0][1].layer)
        await wait_idle(pilot)
        assert "this is the Conv output (before the Relu)" in screen.capture_bar.status.note


async def test_per_channel_facts_summarise_every_channel(model_dir: Path, make_app) -> None:
    from layerscope.tui.widgets.quant_panel import QuantPanel

    app = make_app(model_dir / "smallcnn_int8.onnx")
    async with app.run_test(size=SIZE) as pilot:
        await wait_idle(pilot)
        screen = app.screen
        layer = next(
            n
            for n, layer in screen.model.layers.items()
            if any(t.quant is not None and t.quant.per_channel for t in layer.tensors.values())
        )
        screen.tree.reveal(layer)
        await wait_for(pilot, lambda: screen.tree.current_layer == layer)
        await wait_idle(pilot)
        static = screen.query_one(QuantPanel).query_one("#quant-facts")
        facts = "\n".join(
            "".join(seg.text for seg in line)
            for line in static.render_lines(static.region.reset_offset)
        )
        assert "scales" in facts and "zero points" in facts and "most at ends" in facts
