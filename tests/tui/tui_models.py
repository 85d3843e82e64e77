"""Seeded model files for the TUI tests: a float state dict, float and int8 ONNX, broken files.

Everything is derived from ``torch.manual_seed`` and fixed NumPy seeds, so the files, and the
snapshots taken of them, are the same on every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_state_dict(folder: Path) -> Path:
    """``smallcnn.pt``: the zoo's SmallCNN weights (state dict, seeded)."""
    import torch

    from layerscope.engine.zoo import SmallCNN

    torch.manual_seed(0)
    path = folder / "smallcnn.pt"
    torch.save(SmallCNN().state_dict(), path)
    return path


def make_onnx(folder: Path) -> Path:
    """``smallcnn.onnx``: SmallCNN exported to ONNX (float)."""
    import torch

    from layerscope.engine.zoo import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN().eval()
    path = folder / "smallcnn.onnx"
    x = torch.randn(1, 3, 32, 32)
    torch.onnx.export(
        model, (x,), str(path), input_names=["input"], output_names=["logits"], dynamo=False
    )
    return path


def make_int8_onnx(float_path: Path) -> Path:
    """``smallcnn_int8.onnx``: static QDQ int8 quantization (per-channel weights) of ``float_path``."""
    from tests.onnx_quantize_for_tests import quantize_static_onnx

    path = float_path.with_name("smallcnn_int8.onnx")
    quantize_static_onnx(float_path, path, per_channel=True)  # int8 weights, uint8 activations
    return path


def make_corrupt(folder: Path) -> Path:
    """``broken.onnx``: an ONNX header followed by garbage (sniffs as ONNX, fails to parse)."""
    path = folder / "broken.onnx"
    path.write_bytes(
        b"\x08\x07\x12\x07pytorch"
        + bytes(np.random.default_rng(1).integers(0, 256, 64, dtype=np.uint8))
    )
    return path


def make_pickled_module(folder: Path) -> Path:
    """``module.pt``: a whole pickled ``nn.Module`` (needs trust to open)."""
    import torch

    torch.manual_seed(0)
    path = folder / "module.pt"
    torch.save(
        torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)), path
    )
    return path


def make_big_safetensors(folder: Path, numel: int = 10_000_000, layers: int = 3) -> Path:
    """``big.safetensors``: ``layers`` side-by-side layers with ``numel``-element float32 weights."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    side = int(numel**0.5)
    tensors = {
        f"fc{i}.weight": rng.standard_normal((side, numel // side), dtype=np.float32)
        for i in range(layers)
    }
    path = folder / "big.safetensors"
    save_file(tensors, str(path))
    return path


def make_wide_safetensors(folder: Path, n: int = 10_000, flat: bool = False) -> Path:
    """``n`` small tensors: in 100 blocks (``wide.safetensors``) or side by side (``flat``)."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    names = [
        f"w{i}.weight" if flat else f"blocks.{i // 100}.layer{i % 100}.weight" for i in range(n)
    ]
    tensors = {name: rng.standard_normal(4, dtype=np.float32) for name in names}
    path = folder / ("flat.safetensors" if flat else "wide.safetensors")
    save_file(tensors, str(path))
    return path
