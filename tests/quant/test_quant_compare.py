"""``quant_compare.compare``: matching, weight/activation/output figures, flags and exclusions."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from quant_factory import calibration, quantize_onnx, tiny

from layerscope.engine.errors import InputError, LayerscopeError
from layerscope.engine.loaders import load_model
from layerscope.engine.loaders.torch_loader import model_from_module
from layerscope.engine.quant_compare import ComparisonCancelled, NothingToCompareError, compare
from layerscope.engine.quant_compare.result import RANDOM_SAMPLES

RESNET8_WEIGHTED = [
    "conv1", "layer1.conv1", "layer1.conv2", "layer2.conv1", "layer2.conv2", "layer2.shortcut",
    "layer3.conv1", "layer3.conv2", "layer3.shortcut", "fc",
]  # fmt: skip


def _perturbed(src: Path, dst: Path, tensor: str, target_db: float) -> Path:
    """A copy of ``src`` whose ``tensor`` carries noise at exactly ``target_db`` SQNR."""
    proto = onnx.load(str(src))
    for i, init in enumerate(proto.graph.initializer):
        if init.name == tensor:
            x = numpy_helper.to_array(init).astype(np.float64)
            noise = np.random.default_rng(3).standard_normal(x.shape)
            noise *= np.linalg.norm(x) / np.linalg.norm(noise) * 10 ** (-target_db / 20)
            new = numpy_helper.from_array((x + noise).astype(np.float32), tensor)
            proto.graph.initializer[i].CopyFrom(new)
    onnx.save(proto, str(dst))
    return dst


def test_identical_pair_is_exact_everywhere(models) -> None:
    result = compare(models.float_onnx, models.float_onnx)
    assert len(result.layers) == 3 and not result.unmatched_float and not result.unmatched_quant
    for layer in result.layers:
        assert layer.weight.figures.exact and math.isinf(layer.weight.sqnr_db)
        assert layer.activation.figures.exact and layer.activation.samples == RANDOM_SAMPLES
        assert not layer.flagged
    assert result.output.figures.exact and result.output.top1_agreement == 1.0
    assert result.suggest_exclude() == []
    text = json.dumps(result.to_dict(), allow_nan=False)  # infinities survive strict JSON
    assert '"sqnr_db": "inf"' in text


def test_known_weight_perturbation_gives_its_sqnr(models, tmp_path: Path) -> None:
    noisy = _perturbed(models.float_onnx, tmp_path / "noisy.onnx", "conv2.weight", 25.0)
    result = compare(models.float_onnx, noisy, threshold_db=30.0)
    by_layer = {c.float_layer: c for c in result.layers}
    assert by_layer["/conv2/Conv"].weight.sqnr_db == pytest.approx(25.0, abs=1e-3)
    assert by_layer["/conv2/Conv"].flagged
    assert by_layer["/conv1/Conv"].weight.figures.exact
    assert by_layer["/fc/Gemm"].weight.figures.exact
    # Upstream of the perturbation the activations are untouched; downstream they are not.
    assert by_layer["/conv1/Conv"].activation.figures.exact
    assert not by_layer["/conv2/Conv"].activation.figures.exact
    assert result.worst_first()[0].float_layer == "/conv2/Conv"
    assert result.suggest_exclude()[0] == "/conv2/Conv"
    # Whatever is flagged downstream, the drop starts at the perturbed layer.
    origins = [c.exclude_node for c in result.layers if c.origin]
    origins += [a.exclude_node for a in result.activations if a.origin]  # conv2's pre-ReLU output
    assert set(origins) == {"/conv2/Conv"}


def test_origin_in_torch_models_follows_execution_order() -> None:
    import torch

    float_model = tiny()
    noisy = tiny()
    with torch.no_grad():
        w = noisy.conv2.weight
        w += torch.randn_like(w) * w.norm() / w.numel() ** 0.5 * 10 ** (-25 / 20)
    fm = model_from_module(Path("tiny.pt"), "torch-module", float_model, "cpu")
    qm = model_from_module(Path("noisy.pt"), "torch-module", noisy, "cpu")
    result = compare(fm, qm, calibration(2), threshold_db=30.0)
    assert result.layers[1].float_layer == "conv2" and result.layers[1].flagged
    assert [c.float_layer for c in result.layers if c.origin] == ["conv2"]


@pytest.mark.parametrize("variant", ["qdq_tensor", "qdq_channel", "qop_uint8", "dynamic"])
def test_onnx_quantized_variants_match_every_layer(models, variant: str) -> None:
    result = compare(models.float_onnx, getattr(models, variant))
    assert [c.float_layer for c in result.layers] == ["/conv1/Conv", "/conv2/Conv", "/fc/Gemm"]
    assert all(c.matched_by == "name" for c in result.layers)
    assert not result.unmatched_float and not result.unmatched_quant
    for c in result.layers:
        assert 0 < c.weight.sqnr_db < math.inf
        assert c.activation is not None and c.activation.samples == RANDOM_SAMPLES
        assert -1.0 <= c.activation.figures.cosine <= 1.0
    # The quantized graphs fold bn1 into conv1 (the dynamic one keeps the BatchNormalization).
    folded = result.layers[0].weight.folded_bn
    assert folded == (None if variant == "dynamic" else "/bn1/BatchNormalization")
    assert 0.0 <= result.output.top1_agreement <= 1.0


def test_bn_left_in_float_is_not_folded_twice(models) -> None:
    result = compare(models.float_onnx, models.qop_unfolded)
    conv1 = result.layers[0]
    assert conv1.quant_layer == "/conv1/Conv_quant" and conv1.weight.folded_bn is None
    # Folding only one side would make the weights disagree by far more than quantization does.
    assert not conv1.flagged
    assert conv1.activation.float_name == conv1.activation.quant_name == "/relu1/Relu_output_0"


def test_folding_matches_the_converters_fold(models) -> None:
    # The preprocessed float file has BN folded by ONNX Runtime; folding it ourselves must agree.
    result = compare(models.float_onnx, models.pre_onnx)
    conv1 = result.layers[0]
    assert conv1.weight.folded_bn == "/bn1/BatchNormalization"
    assert conv1.weight.sqnr_db > 100 and conv1.bias.sqnr_db > 100
    assert result.output.figures.sqnr_db > 100


def test_torch_quantized_models_match_the_float_model(models) -> None:
    batches = calibration(2)
    float_model = model_from_module(models.dir / "tiny.pt", "torch-module", tiny(), "cpu")
    eager = model_from_module(models.dir / "eager", "torch-module", models.eager, "cpu")
    result = compare(float_model, eager, batches)
    assert [(c.float_layer, c.quant_layer) for c in result.layers] == [
        ("conv1", "inner.conv1"), ("conv2", "inner.conv2"), ("fc", "inner.fc"),
    ]  # fmt: skip
    assert result.layers[0].weight.folded_bn == "bn1"
    assert all(c.activation is not None and c.activation.samples == 2 for c in result.layers)
    # TorchScript cannot be hooked: weights and the output only, and the report says so.
    scripted = compare(float_model, load_model(models.fx_ts, trust=True), batches)
    assert len(scripted.layers) == 3 and all(c.activation is None for c in scripted.layers)
    assert scripted.output.samples == 2
    assert any("TorchScript" in n for n in scripted.notes)


def test_cross_framework_matching_finds_every_resnet8_layer(resnet8_files) -> None:
    state, int8 = resnet8_files.state, resnet8_files.int8
    result = compare(load_model(state, arch="resnet8"), int8)
    # Listed in the quantized graph's order, where ORT moved each shortcut first.
    assert sorted(c.float_layer for c in result.layers) == sorted(RESNET8_WEIGHTED)
    assert all(c.matched_by == "name" for c in result.layers)
    assert not result.unmatched_float and not result.unmatched_quant
    bn_convs = [
        c for c in result.layers if "shortcut" not in c.float_layer and c.float_layer != "fc"
    ]
    assert all(c.weight.folded_bn for c in bn_convs)
    # The same figures as from the exported float ONNX file: groups end at the same tensors.
    from_onnx = {c.quant_layer: c for c in compare(resnet8_files.float_onnx, int8).layers}
    for c in result.layers:
        twin = from_onnx[c.quant_layer]
        assert c.weight.sqnr_db == pytest.approx(twin.weight.sqnr_db, abs=0.01)
        assert c.activation.sqnr_db == pytest.approx(twin.activation.sqnr_db, abs=0.01)


def test_weight_names_match_when_node_names_say_nothing(resnet8_files, tmp_path: Path) -> None:
    # The dynamo exporter names nodes node_Conv_12 but keeps the state-dict weight names.
    proto = onnx.load(str(resnet8_files.int8))
    for i, node in enumerate(proto.graph.node):
        node.name = f"node_{node.op_type}_{i}"
    renamed = tmp_path / "renamed_int8.onnx"
    onnx.save(proto, str(renamed))
    result = compare(load_model(resnet8_files.state, arch="resnet8"), renamed, activations=False)
    assert sorted(c.float_layer for c in result.layers) == sorted(RESNET8_WEIGHTED)
    assert all(c.matched_by == "name" for c in result.layers)


def test_position_matching_when_names_say_nothing(resnet8_files, tmp_path: Path) -> None:
    state, int8 = resnet8_files.state, resnet8_files.int8
    proto = onnx.load(str(int8))
    rename = {t.name: f"w{i}" for i, t in enumerate(proto.graph.initializer)}
    for t in proto.graph.initializer:
        t.name = rename[t.name]
    for i, node in enumerate(proto.graph.node):
        node.name = f"n{i}"
        node.input[:] = [rename.get(x, x) for x in node.input]
    anon = tmp_path / "anonymous_int8.onnx"
    onnx.save(proto, str(anon))
    float_model = load_model(state, arch="resnet8")
    named = {c.float_layer: c for c in compare(float_model, int8, activations=False).layers}
    result = compare(float_model, anon, activations=False)
    assert sorted(c.float_layer for c in result.layers) == sorted(RESNET8_WEIGHTED)
    assert all(c.matched_by == "position" for c in result.layers)
    for c in result.layers:
        assert c.weight.sqnr_db == named[c.float_layer].weight.sqnr_db


def test_suggest_exclude_gives_nodes_quantize_static_keeps_in_float(models, tmp_path: Path) -> None:
    # Weights only, so that the flags fall on conv/linear nodes, whose weights show the effect.
    first = compare(models.pre_onnx, models.qdq_tensor, activations=False)
    worst = sorted(c.worst_sqnr_db for c in first.layers)
    threshold = (worst[0] + worst[1]) / 2  # flags exactly the worst layer, whatever its figure
    result = compare(models.pre_onnx, models.qdq_tensor, threshold_db=threshold, activations=False)
    names = result.suggest_exclude()
    assert len(names) == 1
    pre_nodes = {n.name for n in onnx.load(str(models.pre_onnx)).graph.node}
    assert set(names) <= pre_nodes
    requant = load_model(
        quantize_onnx(models.pre_onnx, tmp_path / "requant.onnx", "qdq", False, exclude=names)
    )
    for layer_name in ("/conv1/Conv", "/conv2/Conv", "/fc/Gemm"):
        weight = requant.layer(layer_name).tensors["weight"]
        assert (weight.quant is None) == (layer_name in names)


def test_suggest_exclude_strips_qoperator_suffixes(models) -> None:
    result = compare(models.pre_onnx, models.qop_uint8, threshold_db=1000.0)
    names = result.suggest_exclude()  # QLinearConv "/conv1/Conv_quant" → "/conv1/Conv"
    assert {"/conv1/Conv", "/conv2/Conv", "/fc/Gemm"} <= set(names)
    assert set(names) <= {n.name for n in onnx.load(str(models.pre_onnx)).graph.node}


def test_progress_and_cancel(models) -> None:
    seen: list[tuple[str, int, int]] = []
    compare(models.float_onnx, models.qdq_tensor, progress=lambda *a: seen.append(a))
    assert ("weights", 3, 3) in seen and ("activations", RANDOM_SAMPLES, RANDOM_SAMPLES) in seen
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ComparisonCancelled):
        compare(models.float_onnx, models.qdq_tensor, cancel=cancel)


def test_swapped_models_are_refused(models) -> None:
    with pytest.raises(LayerscopeError, match="give the float model first"):
        compare(models.qdq_tensor, models.float_onnx)


def test_unrelated_models_have_nothing_to_compare(models, resnet8_files) -> None:
    with pytest.raises(NothingToCompareError, match="same network"):
        compare(models.float_onnx, resnet8_files.float_onnx)


def test_model_without_weighted_layers(models, tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g", [x], [y])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(NothingToCompareError, match="relu.onnx has no convolution"):
        compare(path, models.qdq_tensor)


def test_inputs_of_the_wrong_shape(models) -> None:
    with pytest.raises(InputError, match=r"shape \(1, 4, 12, 12\) do not fit tiny.onnx"):
        compare(models.float_onnx, models.qdq_tensor, np.zeros((1, 4, 12, 12), np.float32))


def test_weights_only_without_inputs(models) -> None:
    result = compare(models.float_onnx, models.qdq_tensor, activations=False)
    assert result.output is None and all(c.activation is None for c in result.layers)
    assert all(c.weight is not None for c in result.layers)


def test_qoperator_fused_activations_compare_after_the_activation(resnet8_files) -> None:
    result = compare(resnet8_files.float_onnx, resnet8_files.uint8)
    assert len(result.layers) == 10 and not result.unmatched_quant
    adds = [a for a in result.activations if "/Add_output_0" in a.quant_name]
    assert len(adds) == 3  # one residual add per block, each fused with its ReLU by ORT
    float_graph = onnx.load(str(resnet8_files.float_onnx)).graph
    relu_outputs = {n.output[0] for n in float_graph.node if n.op_type == "Relu"}
    assert all(a.float_name in relu_outputs for a in adds)


def test_weight_histograms_share_their_bins(models) -> None:
    from layerscope.engine.quant_compare import compared_weights
    from layerscope.engine.usecases.quant import weight_histograms

    layer = compare(models.float_onnx, models.qdq_channel, activations=False).layers[0]
    fw, qw = compared_weights(layer)
    assert tuple(fw.shape) == tuple(qw.shape) == layer.weight.shape
    f_stats, q_stats = weight_histograms(layer, bins=32)
    assert f_stats.edges == q_stats.edges and len(f_stats.counts) == 32
    assert sum(f_stats.counts) == sum(q_stats.counts) == fw.numel()
    assert f_stats.min == pytest.approx(float(fw.min()))


def test_an_outlier_weight_is_diagnosed_and_the_suggested_exclusion_fixes_it(
    tmp_path: Path,
) -> None:
    import torch
    from quant_factory import export_onnx, preprocess

    model = tiny()
    with torch.no_grad():  # one huge weight: one channel then dominates every range after it
        model.conv2.weight[0, 0, 0, 0] = 200 * model.conv2.weight.abs().max()
    pre = preprocess(export_onnx(model, tmp_path / "f.onnx"), tmp_path / "pre.onnx")
    quant = quantize_onnx(pre, tmp_path / "q.onnx", "qdq", per_channel=False)
    result = compare(pre, quant)
    names = result.suggest_exclude()
    assert result.flagged and names
    # The per-tensor activation after the pool is where it hurts; the layers reading it follow.
    assert "/pool/GlobalAveragePool" in names and "/fc/Gemm" in names
    origins = [a.float_name for a in result.activations if a.origin]
    assert origins == ["/pool/GlobalAveragePool_output_0"]
    assert not [c for c in result.layers if c.origin]
    assert set(names) <= {n.name for n in onnx.load(str(pre)).graph.node}
    fixed = quantize_onnx(pre, tmp_path / "fixed.onnx", "qdq", per_channel=False, exclude=names)
    after = compare(pre, fixed)
    assert after.output.figures.sqnr_db > result.output.figures.sqnr_db
    assert not after.flagged and not [a for a in after.activations if a.flagged]


def test_torch_and_its_onnx_export_give_the_same_activation_figures(tmp_path: Path) -> None:
    # MatMul + Add + a GELU the exporter decomposes: both sides must end each group at the Add.
    import torch
    from torch import nn

    from tests.onnx_quantize_for_tests import quantize_static_onnx

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 8)).eval()
    f = tmp_path / "mlp.onnx"
    torch.onnx.export(mlp, (torch.zeros(1, 5, 16),), str(f), dynamo=False, input_names=["input"])
    batches = [b.reshape(1, 5, 16) for b in calibration(4, (80,))]
    q = tmp_path / "mlp_qdq.onnx"
    quantize_static_onnx(f, q, batches=batches, activation_type="int8", per_channel=True)
    from_onnx = compare(f, q, batches)
    from_torch = compare(
        model_from_module(tmp_path / "mlp.pt", "torch-module", mlp, "cpu"), q, batches
    )
    assert [c.float_layer for c in from_torch.layers] == ["0", "2"]
    for a, b in zip(from_onnx.layers, from_torch.layers, strict=True):
        assert a.quant_layer == b.quant_layer
        assert b.activation.sqnr_db == pytest.approx(a.activation.sqnr_db, abs=0.01)
        assert b.weight.sqnr_db == pytest.approx(a.weight.sqnr_db, abs=0.01)
