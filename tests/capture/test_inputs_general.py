"""Inputs of every shape a model takes: .npz arrays and ranges, several named inputs, token ids,
ONNX dynamic dimensions, custom and recorded normalisation (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from capture_models import ConvNet
from torch import nn

from layerscope.engine.capture import capture
from layerscope.engine.cli import main
from layerscope.engine.errors import InputError
from layerscope.engine.inputs import load_input
from layerscope.engine.loaders import load_model


class TwoInputs(nn.Module):
    """forward(image, mask): a model with two tensor inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(3, 2)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.a(image) + self.b(mask)


class Tokens(nn.Module):
    """input_ids + attention_mask, integers, like a tiny transformer."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.emb(input_ids) * attention_mask.unsqueeze(-1).to(torch.float32)
        return self.head(h.mean(1))


def _report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "activation_report.json").read_text())


@pytest.fixture
def convnet_file(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "convnet.pt"
    torch.save(ConvNet().eval(), path)
    return path


@pytest.fixture
def tokens_onnx(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "tokens.onnx"
    ids = torch.tensor([[1, 2, 3]])
    torch.onnx.export(
        Tokens().eval(), (ids, torch.ones_like(ids)), str(path), dynamo=False,
        input_names=["input_ids", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}},
    )  # fmt: skip
    return path


def test_npz_array_by_name_and_range_on_the_cli(
    tmp_path: Path, convnet_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "train.npz"
    np.savez(data, diffraction=rng.normal(size=(20, 3, 8, 8)).astype(np.float32),
             labels=np.arange(20))  # fmt: skip
    code = main(["capture", str(convnet_file), "--trust", "--input", f"{data}:diffraction[0:8]",
                 "--out", str(tmp_path / "out"), "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    inp = _report(tmp_path)["input"]
    assert inp["shape"] == [8, 3, 8, 8]
    assert inp["source"] == "npz"
    assert "diffraction" in inp["description"] and "0:8" in inp["description"]


def test_npz_with_several_arrays_and_no_name_says_which(tmp_path: Path) -> None:
    data = tmp_path / "train.npz"
    np.savez(data, diffraction=np.zeros((2, 3, 8, 8), np.float32), other=np.zeros((2, 3, 8, 8)))
    with pytest.raises(InputError, match="diffraction"):
        load_input(str(data), input_shape=(3, 8, 8))


def test_npz_range_out_of_bounds_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "x.npz"
    np.savez(data, x=np.zeros((4, 3, 8, 8), np.float32))
    with pytest.raises(InputError, match="4 samples"):
        load_input(f"{data}:x[2:9]", input_shape=(3, 8, 8))


def test_npz_with_one_array_per_forward_parameter(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TwoInputs().eval()
    data = tmp_path / "pair.npz"
    rng = np.random.default_rng(0)
    np.savez(data, image=rng.normal(size=(4, 3)).astype(np.float32),
             mask=rng.normal(size=(4, 3)).astype(np.float32))  # fmt: skip
    batch = load_input(str(data), model=model)
    result = capture(model, batch)
    assert {"a", "b", "(output)"} <= set(result.activations)
    assert result.samples == 4
    assert result.input["inputs"]["mask"]["shape"] == [4, 3]


def test_capture_api_takes_named_tensors_for_a_multi_input_model() -> None:
    """Was a raw AttributeError ('dict' object has no attribute 'tensor')."""
    torch.manual_seed(0)
    model = TwoInputs().eval()
    result = capture(model, {"image": torch.randn(2, 3), "mask": torch.randn(2, 3)})
    assert result.activations["(output)"].shape == (2, 2)
    positional = capture(model, (torch.randn(2, 3), torch.randn(2, 3)))
    assert positional.activations["b"].shape == (2, 2)


def test_unknown_input_name_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="image, mask"):
        load_input("imgae=random:3", model=TwoInputs())


def test_repeated_named_inputs_and_token_ids_on_onnx(
    tmp_path: Path, tokens_onnx: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["capture", str(tokens_onnx), "--input", "input_ids=ids:1,2,3,4",
                 "--input", "attention_mask=ids:1,1,1,0", "--out", str(tmp_path / "out"),
                 "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    inp = _report(tmp_path)["input"]
    assert inp["inputs"]["input_ids"] == {"shape": [1, 4], "dtype": "int64"}
    assert inp["inputs"]["attention_mask"]["dtype"] == "int64"


def test_one_spec_string_with_several_inputs_for_the_app(tokens_onnx: Path) -> None:
    """The app's text field passes one string: named inputs separated by ';'."""
    model = load_model(tokens_onnx)
    batch = load_input("input_ids=ids:5,6,7; attention_mask=ids:1,1,1", model=model)
    result = capture(model, batch)
    assert result.samples == 1
    assert result.input["inputs"]["input_ids"]["dtype"] == "int64"


def test_random_on_onnx_dynamic_dimensions_uses_a_stated_default(tokens_onnx: Path) -> None:
    model = load_model(tokens_onnx)
    batch = load_input("random", model=model)
    assert batch.named is not None
    assert batch.named["input_ids"].dtype == torch.int64
    assert "seq" in batch.description and "16" in batch.description
    result = capture(model, batch)
    assert result.input["inputs"]["attention_mask"]["shape"] == [1, 16]


def test_integer_npy_stays_integer(tmp_path: Path) -> None:
    ids = tmp_path / "ids.npy"
    np.save(ids, np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32))
    batch = load_input(str(ids))
    assert batch.tensor.dtype == torch.int64
    assert batch.to_dict()["dtype"] == "int64"


def test_ids_spec_gives_one_sequence_of_token_ids() -> None:
    batch = load_input("ids:101,2023,102")
    assert batch.tensor.tolist() == [[101, 2023, 102]]
    assert batch.tensor.dtype == torch.int64
    with pytest.raises(InputError, match="ids:"):
        load_input("ids:101,x")


@pytest.mark.parametrize("text", ["0.485,0.456,0.406/0.229,0.224,0.225", "imagenet"])
def test_normalize_mean_std_per_channel(tmp_path: Path, text: str) -> None:
    from PIL import Image

    img = tmp_path / "grey.png"
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(img)
    batch = load_input(str(img), input_shape=(3, 8, 8), normalize=text)
    assert batch.normalization is not None
    assert batch.normalization["mean"] == pytest.approx([0.485, 0.456, 0.406])
    expected = (128 / 255 - 0.485) / 0.229
    assert float(batch.tensor[0, 0, 0, 0]) == pytest.approx(expected, rel=1e-5)


def test_normalize_cli_accepts_mean_std(
    tmp_path: Path, convnet_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["capture", str(convnet_file), "--trust", "--input", "digits:0",
                 "--normalize", "0.5,0.5,0.5/0.25,0.25,0.25", "--out", str(tmp_path / "out"),
                 "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert _report(tmp_path)["input"]["normalization"]["std"] == [0.25, 0.25, 0.25]


@pytest.mark.parametrize("bad", ["0.5,0.5/0.2", "a,b/c,d", "0.5/0", "sideways"])
def test_bad_normalize_is_one_line(bad: str) -> None:
    with pytest.raises(InputError) as info:
        load_input("digits:0", input_shape=(3, 8, 8), normalize=bad)
    assert "\n" not in str(info.value)


def test_recorded_normalisation_in_onnx_metadata_is_applied(tmp_path: Path) -> None:
    import onnx

    torch.manual_seed(0)
    path = tmp_path / "model.onnx"
    torch.onnx.export(ConvNet().eval(), torch.randn(1, 3, 8, 8), str(path), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})  # fmt: skip
    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key = "layerscope.preprocessing"
    entry.value = json.dumps({"mean": [0.1, 0.2, 0.3], "std": [0.5, 0.5, 0.5], "layout": "NCHW"})
    onnx.save(proto, str(path))
    batch = load_input("digits:0", model=load_model(path))
    assert batch.normalization["mean"] == pytest.approx([0.1, 0.2, 0.3])
    assert "recorded" in batch.description
    # --normalize still wins
    assert load_input("digits:0", model=load_model(path), normalize="none").normalization is None


def test_recorded_normalisation_in_a_runs_model_info_is_applied(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "model_info.json").write_text(json.dumps({
        "architecture": "ConvNet",
        "preprocessing": {"mean": [0.4, 0.4, 0.4], "std": [0.2, 0.2, 0.2], "layout": "NCHW"},
    }))  # fmt: skip
    path = run / "checkpoints" / "model.pt"
    torch.save(ConvNet().eval(), path)
    model = load_model(path, trust=True)
    batch = load_input("digits:0", model=model)
    assert batch.normalization["std"] == pytest.approx([0.2, 0.2, 0.2])
    assert "model_info.json" in batch.description


def test_capture_help_lists_every_input_form(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["capture", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for form in (".npz", "[0:8]", "name=SPEC", "ids:", "random", "digits:", "cifar10:",
                 "imagenet", "MEAN"):  # fmt: skip
        assert form in out, form


def test_the_apps_capture_session_applies_recorded_normalisation(tmp_path: Path) -> None:
    """The app hands its text field to CaptureSession.run: the engine parses it with the model."""
    import threading

    import onnx

    from layerscope.engine.usecases.activations import CaptureSession

    path = tmp_path / "model.onnx"
    torch.onnx.export(ConvNet().eval(), torch.randn(1, 3, 8, 8), str(path), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "n"}})  # fmt: skip
    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "layerscope.preprocessing", json.dumps({"mean": [0.3], "std": [0.7]})
    onnx.save(proto, str(path))
    session = CaptureSession.run(
        load_model(path), "digits:0", seed=0, bins=20, device="cpu", progress=None,
        cancel=threading.Event(),
    )  # fmt: skip
    assert session.result.input["normalization"]["std"] == pytest.approx([0.7, 0.7, 0.7])
