"""``diff`` on real captures of a constructed partial collapse, and its provenance warnings.

Two copies of one tiny CNN see the same seeded random input; in B one conv's weights are scaled
by 1e-6 with its bias kept (the conv's std only drops ~3×, which a fixed 10× rule missed). That
conv and everything after it must be flagged, the bit-identical layers before it must not.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from layerscope.engine.capture import capture
from layerscope.engine.cli import main
from layerscope.engine.diff import diff
from layerscope.engine.inputs import load_input
from layerscope.engine.report import Report, from_capture, save


class CollapseNet(nn.Module):
    input_shape = (3, 8, 8)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.conv1(x))
        x = self.relu3(self.conv3(self.relu2(self.conv2(x))))
        return self.fc(self.flatten(self.pool(x)))


BEFORE = ["conv1", "relu1"]
AFTER = ["conv2", "relu2", "conv3", "relu3", "pool", "flatten", "fc", "(output)"]


def _reports(seed_b: int = 0) -> tuple[Report, Report]:
    torch.manual_seed(0)
    healthy = CollapseNet().eval()
    broken = copy.deepcopy(healthy)
    with torch.no_grad():
        broken.conv2.weight.mul_(1e-6)  # bias kept
    x_a = load_input("random", input_shape=(3, 8, 8), max_samples=16, seed=0)
    x_b = load_input("random", input_shape=(3, 8, 8), max_samples=16, seed=seed_b)
    return from_capture(capture(healthy, x_a)), from_capture(capture(broken, x_b))


def test_partial_collapse_flags_the_layer_and_everything_after_it() -> None:
    a, b = _reports()
    d = diff(a, b)
    flagged = {r.name for r in d.flagged}
    assert flagged == set(AFTER), {r.name: [f.message for f in r.flags] for r in d.rows}
    assert not flagged & set(BEFORE)
    assert d.warnings == [] and d.same_input is True
    conv2 = next(r for r in d.rows if r.name == "conv2")
    shrank = next(f for f in conv2.flags if f.code == "std-shrank")
    # The message says which rule fired and with which numbers.
    assert f"{conv2.a.std:.3g} → {conv2.b.std:.3g}" in shrank.message
    assert shrank.rule and shrank.rule in shrank.message
    assert 2 < conv2.a.std / conv2.b.std < 10  # the premise: a fixed 10× rule misses it


def test_identical_captures_flag_nothing() -> None:
    a, _ = _reports()
    d = diff(a, a)
    assert d.flagged == [] and d.warnings == []


def test_paths_or_reports(tmp_path: Path) -> None:
    a, b = _reports()
    pa, pb = save(a, tmp_path / "a.json"), save(b, tmp_path / "b.json")
    by_path = diff(pa, str(pb))
    assert [r.name for r in by_path.flagged] == [r.name for r in diff(a, b).flagged]


def test_different_inputs_warn_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _reports(seed_b=1)
    d = diff(a, b)
    assert d.same_input is False and "different inputs" in d.warnings[0]
    pa, pb = save(a, tmp_path / "a.json"), save(b, tmp_path / "b.json")
    assert main(["diff", str(pa), str(pb)]) == 0
    out = capsys.readouterr().out
    assert out.lstrip().startswith("warning: A and B were captured on different inputs")
    assert main(["diff", str(pa), str(pb), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["same_input"] is False and "different inputs" in data["warnings"][0]


def test_different_models_warn(tmp_path: Path) -> None:
    a, _ = _reports()
    torch.manual_seed(0)
    other = nn.Sequential(nn.Flatten(), nn.Linear(192, 4), nn.Tanh()).eval()
    x = load_input("random", input_shape=(3, 8, 8), max_samples=16, seed=0)
    d = diff(a, from_capture(capture(other, x)))
    assert d.same_model is False
    assert any("different models" in w for w in d.warnings)


def test_cli_explains_each_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _reports()
    pa, pb = save(a, tmp_path / "a.json"), save(b, tmp_path / "b.json")
    assert main(["diff", str(pa), str(pb), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in data["rows"]}
    assert data["warnings"] == [] and data["flagged"] == len(AFTER)
    for name in AFTER:
        for flag in rows[name]["flags"]:
            assert flag["rule"] and flag["rule"] in flag["message"]
    assert rows["conv1"]["flags"] == []


def test_torch_and_onnx_names_are_matched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``layer1.conv1`` in torch is ``/layer1/conv1/Conv_output_0`` in ONNX: one row, both names."""
    torch.manual_seed(0)
    net = CollapseNet().eval()
    onnx_path = tmp_path / "net.onnx"
    torch.onnx.export(net, torch.randn(1, 3, 8, 8), str(onnx_path), dynamo=False,
                      input_names=["x"], output_names=["y"])  # fmt: skip
    x = load_input("random", input_shape=(3, 8, 8), max_samples=4, seed=0)
    rt = from_capture(capture(net, x))
    ro = from_capture(capture(onnx_path, x))
    d = diff(rt, ro)
    names = {r.name: r.name_b for r in d.rows}
    assert names["conv1"] == "/conv1/Conv_output_0"
    assert names["relu2"] == "/relu2/Relu_output_0"
    assert d.flagged == [], [(r.label, [f.message for f in r.flags]) for r in d.flagged]
    pa, pb = save(rt, tmp_path / "t.json"), save(ro, tmp_path / "o.json")
    monkeypatch.setenv("COLUMNS", "240")  # a wide table: names are not folded
    assert main(["diff", str(pa), str(pb)]) == 0
    assert "conv1 = /conv1/Conv_output_0" in capsys.readouterr().out
    assert main(["diff", str(pa), str(pb), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert {"name": "conv1", "name_b": "/conv1/Conv_output_0"}.items() <= rows[0].items()


def _hand(tensors: dict[str, tuple[str, np.ndarray]]) -> Report:
    from layerscope.engine.report import ReportTensor
    from layerscope.engine.stats import compute

    return Report(
        model={"name": "m"}, input={}, capture={}, versions={}, created="now",
        tensors={n: ReportTensor(n, n, k, compute(v.astype(np.float32), 20)) for n, (k, v) in tensors.items()},
    )  # fmt: skip


def test_std_threshold_scales_with_the_other_layers() -> None:
    """2× is news when the other layers held still, and not when every layer moved ~2×."""
    rng = np.random.default_rng(0)
    base = {f"l{i}": ("Linear", rng.standard_normal(2000)) for i in range(8)}
    still = {n: (k, v * (2.0 if n == "l5" else 1.0)) for n, (k, v) in base.items()}
    d = diff(_hand(base), _hand(still))
    assert [(r.name, [f.code for f in r.flags]) for r in d.flagged] == [("l5", ["std-grew"])]
    assert "the least-changed tenth of the layers moved ≤1×" in d.flagged[0].flags[0].message
    everywhere = {n: (k, v * (2.0 + 0.01 * i)) for i, (n, (k, v)) in enumerate(base.items())}
    assert diff(_hand(base), _hand(everywhere)).flagged == []


def test_zeros_rising_by_half_is_dead_in_any_layer() -> None:
    rng = np.random.default_rng(1)
    v = rng.standard_normal(2000) + 3.0  # no zeros
    zeroed = v.copy()
    zeroed[:1300] = 0.0
    d = diff(_hand({"conv": ("Conv2d", v)}), _hand({"conv": ("Conv2d", zeroed)}))
    dead = [f for f in d.rows[0].flags if f.code == "dead"]
    assert dead and "zeros 0% → 65% (+65 points)" in dead[0].message
