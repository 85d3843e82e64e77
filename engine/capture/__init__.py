"""Activations: every layer's output for one input, from one forward pass (torch) or one ORT run.

``capture(model, inputs)`` is the one entry point. It is synchronous; a TUI worker passes
``progress`` (called once per captured tensor) and a ``threading.Event`` as ``cancel``.

Statistics are exact (see ``layerscope.engine.capture.fast_stats`` for what that means for the fast path).
Batches: up to ``batch_size`` samples (default 256) run as one batch in one pass; more run as
several batches in two passes (see ``layerscope.engine.capture.sink``), so statistics still cover every sample.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerscope.engine.capture.result import Activation, CaptureCancelled, CaptureResult
from layerscope.engine.capture.sink import Progress, Sink
from layerscope.engine.errors import ArchitectureError, InputError
from layerscope.engine.loaders.torchscript_meta import require_trust
from layerscope.engine.model import Model

if TYPE_CHECKING:
    import torch

    from layerscope.engine.inputs import InputBatch

__all__ = ["Activation", "CaptureCancelled", "CaptureResult", "capture", "MODES"]

MODES = ("stats", "tensors")
DEFAULT_BATCH = 256

_SCRIPT_NOTE = (
    "per-layer activations: TorchScript runs compiled code where forward hooks cannot fire, so "
    "only the model's output was captured; load the model as a torch module or ONNX to see every layer"
)


def capture(
    model: Model | Any,
    inputs: InputBatch | torch.Tensor | dict[str, torch.Tensor] | tuple[torch.Tensor, ...],
    *,
    mode: str = "stats",
    keep: Collection[str] | None = None,
    bins: int = 50,
    device: str | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    gradients: bool = False,
    target: Any = None,
) -> CaptureResult:
    """Capture the activations of every layer of ``model`` for ``inputs``.

    Args:
        model: a loaded ``Model``, a ``torch.nn.Module`` or a path to an ``.onnx`` file.
        inputs: an ``InputBatch`` (from ``layerscope.engine.inputs.load_input``), a batch tensor, or for a
            model of several inputs a dict of named batches (keywords of the forward, or the ONNX
            graph's input names) or a tuple (positional arguments).
        mode: ``"stats"`` keeps statistics only (memory flat in the number of layers);
            ``"tensors"`` also keeps values, on CPU in their own dtype, for ``keep`` (all if None).
        keep: tensor or layer names whose values to keep in ``"tensors"`` mode.
        bins: histogram bins.
        device: ``"cpu"`` or ``"cuda"``; torch modules are moved there (default: where they are).
        batch_size: samples per forward pass (default 256).
        progress: ``progress(done, total_or_None, tensor_name)`` after each captured tensor;
            ``total`` counts every tensor of every batch and pass (an estimate: the number of
            modules or graph values times the batches and passes).
        cancel: set it to stop; ``CaptureCancelled`` is raised and hooks are removed.
        gradients: also run backward and record every module output's gradient
            (``result.gradients``, same names as the activations) and every parameter's
            (``result.parameter_gradients``); torch modules only. In ``"tensors"`` mode the
            gradients of the ``keep`` names (tensor, layer or parameter names) keep their values.
        target: what the gradients are of (``layerscope.engine.capture.gradients``): a class index,
            ``"predicted"``, ``"label"`` (the input's dataset labels), an integer array of one
            class per sample, or a float array of the output's shape (MSE).
    """
    if mode not in MODES:
        raise InputError(f"capture mode must be one of {', '.join(MODES)}, got {mode!r}")
    if bins < 1:
        raise InputError(f"bins must be at least 1, got {bins}")
    if device is not None and device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError(
                f"device {device!r} asked for, but torch sees no CUDA device here; use cpu"
            )
    feed, described = _input_tensor(inputs)
    tensor = _first(feed)
    samples = int(tensor.shape[0]) if tensor.dim() else 1
    grad_target = None
    if gradients:
        from layerscope.engine.capture.gradients import resolve_target

        grad_target = resolve_target(target, samples, getattr(inputs, "labels", None))
    elif target is not None:
        raise InputError("a gradient target was given without gradients=True")
    bs = batch_size or DEFAULT_BATCH
    if bs < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    batches = _split(feed, bs)
    started = time.perf_counter()
    path, fmt, module, onnx_key = _resolve(model)
    not_available: list[str] = []
    grad_sink: Sink | None = None
    param_grads: dict[str, Activation] = {}
    if module is not None:
        from layerscope.engine.capture import torch_capture as tc

        if device is not None:
            module = module.to(device)
        dev = tc.module_device(module)
        batches = [_to(b, dev) for b in batches]
        total = None if tc.is_scripted(module) else sum(1 for _ in module.modules())
        sink = Sink(bins, keep, mode == "tensors", _overall(progress, len(batches)), total)
        # In tensors mode the kept names' gradients are kept too (values on CPU).
        grad_sink = Sink(bins, keep, mode == "tensors") if grad_target is not None else None
        errors = tc.capture_module(
            module,
            batches,
            sink,
            cancel,
            target=grad_target,
            grad_sink=grad_sink,
            param_grads=param_grads,
        )
        if tc.is_scripted(module):
            not_available.append(_SCRIPT_NOTE)
        dev_name = str(dev)
    else:
        if grad_target is not None:
            raise InputError(
                "gradients need a torch model (autograd); ONNX Runtime runs forward only: load "
                "the torch weights with --arch instead"
            )
        from layerscope.engine.capture import onnx_capture as oc

        g = oc.graph_for(onnx_key, path, device or "cpu")
        batches = oc.split_for(g, batches)
        sink = Sink(bins, keep, mode == "tensors", _overall(progress, len(batches)), len(g.order))
        errors = oc.capture_onnx(g, batches, sink, cancel)
        dev_name = "cuda" if "CUDAExecutionProvider" in g.session.get_providers() else "cpu"
    return CaptureResult(
        model_path=path,
        model_format=fmt,
        device=dev_name,
        mode=mode,
        bins=bins,
        input=described,
        activations=sink.activations(),
        errors=errors,
        not_available=not_available,
        samples=samples,
        batches=len(batches),
        passes=1 if len(batches) == 1 else 2,
        seconds=time.perf_counter() - started,
        gradients=grad_sink.activations() if grad_sink is not None else {},
        parameter_gradients=param_grads,
        gradient_target=grad_target.to_dict() if grad_target is not None else None,
    )


Feed = Any  # a tensor, a dict of named tensors (keywords) or a tuple of tensors (positional)


def _input_tensor(inputs: Any) -> tuple[Feed, dict[str, Any]]:
    import torch

    if isinstance(inputs, torch.Tensor):
        described = {"description": f"tensor of shape {tuple(inputs.shape)}", "source": "tensor"}
        return inputs, {**described, "sha256": _tensor_sha256(inputs)}
    if isinstance(inputs, (dict, tuple, list)):
        items = list(inputs.items()) if isinstance(inputs, dict) else list(enumerate(inputs))
        if not items or not all(isinstance(t, torch.Tensor) for _, t in items):
            raise InputError(
                "capture takes an InputBatch, a tensor, or a dict/tuple of tensors (one per input)"
            )
        sizes = {int(t.shape[0]) if t.dim() else 1 for _, t in items}
        if len(sizes) > 1:
            raise InputError(f"the inputs hold different numbers of samples ({sorted(sizes)})")
        parts = {str(k): {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
                 for k, t in items}  # fmt: skip
        desc = "; ".join(f"{k}: tensor of shape {tuple(t.shape)}" for k, t in items)
        feed = dict(inputs) if isinstance(inputs, dict) else tuple(inputs)
        sha = _tensor_sha256(*(t for _, t in items))
        return feed, {"description": desc, "source": "tensors", "inputs": parts, "sha256": sha}
    batch = inputs.feed() if hasattr(inputs, "feed") else inputs.tensor
    tensors = list(batch.values()) if isinstance(batch, dict) else [batch]
    return batch, {**inputs.to_dict(), "sha256": _tensor_sha256(*tensors)}


def _first(feed: Feed) -> torch.Tensor:
    if isinstance(feed, dict):
        return next(iter(feed.values()))
    return feed[0] if isinstance(feed, tuple) else feed


def _split(feed: Feed, bs: int) -> list[Feed]:
    """Batches of at most ``bs`` samples, each input split alike."""
    first = _first(feed)
    if first.dim() == 0 or first.shape[0] == 0:
        return [feed]
    if isinstance(feed, dict):
        parts = {k: v.split(bs) for k, v in feed.items()}
        return [{k: parts[k][i] for k in feed} for i in range(len(parts[next(iter(feed))]))]
    if isinstance(feed, tuple):
        cols = [t.split(bs) for t in feed]
        return [tuple(c[i] for c in cols) for i in range(len(cols[0]))]
    return list(feed.split(bs))


def _to(batch: Feed, dev: Any) -> Feed:
    if isinstance(batch, dict):
        return {k: v.to(dev) for k, v in batch.items()}
    if isinstance(batch, tuple):
        return tuple(t.to(dev) for t in batch)
    return batch.to(dev)


def _overall(progress: Progress | None, batches: int) -> Progress | None:
    """Progress over the whole capture: the sink counts tensors per batch, over every pass."""
    if progress is None:
        return None
    passes = 1 if batches == 1 else 2
    return lambda done, total, name: progress(
        done, total * batches * passes if total else None, name
    )


def _tensor_sha256(*tensors: torch.Tensor) -> str:
    """Fingerprint of the batch's bytes: ``diff`` tells reports of other inputs by it."""
    import hashlib

    import torch

    h = hashlib.sha256()
    for t in tensors:  # one tensor hashes as it always did
        flat = t.detach().cpu().contiguous().reshape(-1)
        raw = (
            flat.view(torch.uint8)
            if flat.numel() and flat.dtype != torch.bool
            else flat.to(torch.uint8)
        )
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(raw.numpy().tobytes())
    return h.hexdigest()


def _resolve(model: Any) -> tuple[Path | None, str, Any, Any]:
    """(path, format, torch module or None, ONNX session cache key: the Model, or None for a path)."""
    import torch

    if isinstance(model, Model):
        if model.module is None and model.module_factory:
            model.ensure_module()  # a Hugging Face folder: built on first capture
        if model.module is not None:
            return model.path, model.format, model.module, None
        require_trust(model)  # an untrusted TorchScript archive is listed, never run
        if model.onnx is not None or model.format == "onnx":
            return model.path, model.format, None, model
        raise ArchitectureError(
            f"{model.path.name} ({model.format}) holds weights but no runnable graph: bind it to an "
            "architecture with --arch to capture activations"
        )
    if isinstance(model, torch.nn.Module):
        fmt = "torchscript" if isinstance(model, torch.jit.ScriptModule) else "torch-module"
        return None, fmt, model, None
    if isinstance(model, (str, Path)) and str(model).endswith(".onnx"):
        p = Path(model)
        if not p.is_file():
            raise InputError(f"ONNX model not found: {p}")
        return p, "onnx", None, None
    raise InputError(
        f"cannot capture from {type(model).__name__}: give a Model, a torch module or an .onnx path"
    )
