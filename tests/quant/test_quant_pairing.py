"""Pairing quantized files with their float originals by name (the folder picker's pairs)."""

from __future__ import annotations

from pathlib import Path

from engine.quant_compare.pairing import float_partner, float_stem, pair_variants


def test_float_stem_strips_quantization_tags() -> None:
    assert float_stem("resnet8_int8.onnx") == "resnet8"
    assert float_stem("models/resnet8_uint8.onnx") == "resnet8"
    assert float_stem("net-quant.onnx") == "net"
    assert float_stem("net_int8_qdq.onnx") == "net"
    assert float_stem("resnet8.onnx") is None
    assert float_stem("int8.onnx") is None  # nothing left: not a variant of anything


def test_pair_variants_in_a_demo_folder(tmp_path: Path) -> None:
    names = ["resnet8.onnx", "resnet8.pt", "resnet8_int8.onnx", "resnet8_uint8.onnx",
             "resnet8_int8.pt", "resnet8_state.pt", "other_int8.onnx"]  # fmt: skip
    paths = [tmp_path / n for n in names]
    pairs = {(f.name, q.name) for f, q in pair_variants(paths)}
    assert pairs == {
        ("resnet8.onnx", "resnet8_int8.onnx"),
        ("resnet8.onnx", "resnet8_uint8.onnx"),
        ("resnet8.pt", "resnet8_int8.pt"),
    }  # other_int8.onnx has no float original: not paired


def test_float_partner_falls_back_to_another_format(tmp_path: Path) -> None:
    q = tmp_path / "net_int8.onnx"
    assert float_partner(q, [tmp_path / "net.pt", q]) == tmp_path / "net.pt"
    assert float_partner(q, [q]) is None
