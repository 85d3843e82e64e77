"""A Hugging Face-style folder (config.json + safetensors) is runnable with `transformers`:
token-id inputs, every layer captured (issue 13). Tiny models built from a config, no download."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from layerscope.engine.capture import capture  # noqa: E402
from layerscope.engine.cli import main  # noqa: E402
from layerscope.engine.inputs import load_input  # noqa: E402
from layerscope.engine.loaders import load_model  # noqa: E402


def _tiny_bert(folder: Path, shard: str | None) -> None:
    cfg = transformers.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32, num_labels=3,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(cfg).eval()
    if shard:
        model.save_pretrained(folder, max_shard_size=shard)
    else:
        model.save_pretrained(folder)


@pytest.mark.parametrize("shard", [None, "20KB"], ids=["one-file", "sharded"])
def test_hf_folder_captures_with_token_ids(
    tmp_path: Path, shard: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "tiny-bert"
    _tiny_bert(folder, shard)
    assert (len(list(folder.glob("*.safetensors"))) > 1) == bool(shard)
    code = main(["capture", str(folder), "--input", "ids:2,15,9,3", "--out", str(tmp_path / "o"),
                 "--json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "o" / "activation_report.json").read_text())
    names = set(report["tensors"])
    assert "bert.encoder.layer.1.attention.self.query" in names
    assert "classifier" in names
    assert report["tensors"]["classifier"]["shape"] == [1, 3]
    assert report["input"]["dtype"] == "int64"


def test_hf_model_is_runnable_and_takes_named_token_inputs(tmp_path: Path) -> None:
    folder = tmp_path / "tiny-bert"
    _tiny_bert(folder, None)
    model = load_model(folder)
    assert model.runnable
    batch = load_input("input_ids=ids:2,5,7; attention_mask=ids:1,1,0", model=model)
    result = capture(model, batch)
    assert result.activations["bert.embeddings.word_embeddings"].shape == (1, 3, 16)
    # the weights the module runs are the folder's
    want = model.tensor("classifier.weight").load()
    assert torch.equal(model.module.classifier.weight.detach(), want)
