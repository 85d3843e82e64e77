"""Running a demo file on images, from the file itself, in its own framework."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from layerscope.engine.demo.common import INPUT_NAME, quantized_engine

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

# ---------------------------------------------------------------------------------------------
# Evaluation, from the files themselves


def _torch_logits(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _fresh_resnet8(state: dict[str, torch.Tensor]) -> nn.Module:
    from layerscope.engine.zoo import ResNet8

    model = ResNet8(num_classes=10)
    model.load_state_dict(state)
    return model.eval()


def evaluate_file(path: str | os.PathLike[str], fmt: str, x: np.ndarray) -> tuple[np.ndarray, str]:
    """Run one demo file on ``x`` (normalised NCHW float32) in its own framework.

    Returns the logits and the framework's name. Only meant for files this module wrote: the
    whole-module pickle is unpickled, which runs code.
    """
    path = str(path)
    if fmt.startswith("onnx"):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = 1  # tiny model: threads would only spin (see _one_torch_thread)
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        return sess.run(None, {INPUT_NAME: x})[0], "onnxruntime"

    import torch

    if fmt == "torch-pickle":
        model = torch.load(path, weights_only=False, map_location="cpu")  # our own file
        return _torch_logits(model.eval(), x), "torch"
    if fmt == "torch-state-dict":
        state = torch.load(path, weights_only=True, map_location="cpu")
        return _torch_logits(_fresh_resnet8(state), x), "torch"
    if fmt == "lightning-ckpt":
        ckpt = torch.load(path, weights_only=True, map_location="cpu")
        state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}
        return _torch_logits(_fresh_resnet8(state), x), "torch"
    if fmt == "safetensors":
        from safetensors.torch import load_file

        return _torch_logits(_fresh_resnet8(load_file(path)), x), "torch"
    if fmt == "torchscript-int8":
        with quantized_engine():
            model = torch.jit.load(path, map_location="cpu").eval()
            return _torch_logits(model, x), "torchscript"
    raise ValueError(f"unknown demo format {fmt!r}")
