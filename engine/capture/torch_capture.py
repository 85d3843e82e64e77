"""PyTorch capture: forward hooks on every module, one forward pass per batch, under ``no_grad``.

With a gradient target the same pass runs with autograd on and ends in a backward pass: a tensor
hook on every module output feeds a second sink, and each parameter's ``.grad`` is read after the
first pass over all batches (see ``layerscope.engine.capture.gradients``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from layerscope.engine.capture import fast_stats as fs
from layerscope.engine.capture.result import Activation, CaptureCancelled
from layerscope.engine.capture.sink import PASS_FULL, PASS_HIST, PASS_MOMENTS, Sink
from layerscope.engine.errors import InputError, first_line

if TYPE_CHECKING:
    import torch
    from torch import nn

    from layerscope.engine.capture.gradients import GradientTarget


# The model's own output: parentheses never occur in module paths, so no layer can clash with it.
OUTPUT = "(output)"


class _Cancel(BaseException):
    """Raised inside a hook to stop the forward pass; BaseException so model code can't swallow it."""


def flatten_output(name: str, out: Any) -> Iterator[tuple[str, Any]]:
    """``(name, tensor)`` for each tensor in a (nested) tuple/list/dict output."""
    import torch

    if isinstance(out, torch.Tensor):
        yield name, out
    elif isinstance(out, (tuple, list)):
        for i, item in enumerate(out):
            yield from flatten_output(f"{name}.{i}" if name else str(i), item)
    elif isinstance(out, dict):
        for key, item in out.items():
            yield from flatten_output(f"{name}.{key}" if name else str(key), item)
    elif hasattr(out, "to_tuple") and hasattr(out, "keys"):  # ModelOutput-like objects
        for key in out.keys():
            yield from flatten_output(f"{name}.{key}" if name else str(key), out[key])


def is_scripted(module: Any) -> bool:
    import torch

    return isinstance(module, torch.jit.ScriptModule)


def module_device(module: nn.Module) -> torch.device:
    import torch

    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def capture_module(
    module: nn.Module,
    batches: list[torch.Tensor],
    sink: Sink,
    cancel: threading.Event | None = None,
    *,
    target: GradientTarget | None = None,
    grad_sink: Sink | None = None,
    param_grads: dict[str, Activation] | None = None,
) -> dict[str, str]:
    """Run ``batches`` through ``module`` with hooks feeding ``sink``; returns per-layer errors.

    Tensor names are module paths; the model's own output is ``(output)``. With ``target``, each
    output's gradient goes to ``grad_sink`` under the same name and each parameter's gradient
    into ``param_grads`` (by parameter name); the module's ``.grad`` and ``requires_grad`` are
    restored afterwards.

    Modules are put in eval mode for the capture (so BatchNorm statistics are not updated) and
    restored afterwards; every hook is removed, whatever happens.
    """
    import torch

    errors: dict[str, str] = {}
    skipped: list[str] = []
    scripted = is_scripted(module)
    modules = [] if scripted else list(module.named_modules())
    calls: dict[str, int] = {}
    last = [""]

    def make_hook(name: str, kind: str) -> Any:
        def hook(_mod: Any, _args: Any, out: Any) -> None:
            if cancel is not None and cancel.is_set():
                raise _Cancel
            n = calls[name] = calls.get(name, 0) + 1
            base = name or OUTPUT
            tname = base if n == 1 else f"{base}#{n}"  # a module used twice: `block`, `block#2`
            last[0] = tname or "(model)"
            for sub, t in flatten_output(tname, out):
                try:
                    sink.add(sub, name, kind, t)
                except _Cancel:
                    raise
                except Exception as exc:  # one layer's failure must not stop the others
                    errors[sub] = f"{type(exc).__name__}: {first_line(exc)}"
                if grad_sink is not None and t.requires_grad:
                    t.register_hook(grad_hook(sub, name, kind))

        return hook

    def grad_hook(sub: str, name: str, kind: str) -> Any:
        def on_grad(g: torch.Tensor) -> None:
            try:
                grad_sink.add(sub, name, kind, g)  # type: ignore[union-attr]
            except Exception as exc:  # noqa: BLE001 - one layer's failure must not stop the others
                errors[f"{sub} (gradient)"] = f"{type(exc).__name__}: {first_line(exc)}"

        return on_grad

    training = {m: m.training for _, m in modules}
    handles = []
    params = list(module.named_parameters()) if target is not None else []
    saved = [(p, p.requires_grad, p.grad) for _, p in params]
    try:
        for _, p in params:  # the user's gradients are put back afterwards
            p.grad = None
            p.requires_grad_(True)
        for name, mod in modules:
            if name and is_scripted(mod):  # compiled submodule: no hooks on it or inside it
                if not any(name.startswith(f"{s}.") for s in skipped):
                    skipped.append(name)
                continue
            handles.append(mod.register_forward_hook(make_hook(name, type(mod).__name__)))
        module.eval()
        passes = [PASS_FULL] if len(batches) == 1 else [PASS_MOMENTS, PASS_HIST]
        with torch.set_grad_enabled(target is not None):
            for i, phase in enumerate(passes):
                start = 0
                for batch in batches:
                    sink.start_batch(phase)
                    if grad_sink is not None:
                        grad_sink.start_batch(phase)
                    calls.clear()
                    out = _forward(module, batch, last)
                    if scripted:  # hooks cannot fire inside compiled code: the output only
                        for sub, t in flatten_output(OUTPUT, out):
                            sink.add(sub, "", type(module).__name__, t)
                            if grad_sink is not None and t.requires_grad:
                                t.register_hook(grad_hook(sub, "", type(module).__name__))
                    if target is not None:
                        target.batch_loss(out, start).backward()
                        first = _first(batch)
                        start += first.shape[0] if first.dim() else 1
                    del out
                if i == 0 and target is not None and param_grads is not None:
                    _param_stats(module, params, grad_sink or sink, param_grads, errors)
    except _Cancel:
        raise CaptureCancelled("capture cancelled") from None
    finally:
        for h in handles:
            h.remove()
        # train() recurses into every child, so calling it on each module costs O(modules x
        # depth) (0.37 ms of a 44-module capture); only modules whose mode changed need it.
        # Parents come before their children here, so a parent's recursion is undone below.
        for m, was in training.items():
            if m.training != was:
                m.train(was)
        for p, requires, grad in saved:
            p.requires_grad_(requires)
            p.grad = grad
    for name in skipped:
        errors[name] = (
            "TorchScript submodule: forward hooks cannot fire inside it, so it was not captured"
        )
    return errors


def _param_stats(
    module: nn.Module,
    params: list[tuple[str, torch.Tensor]],
    gsink: Sink,
    out: dict[str, Activation],
    errors: dict[str, str],
) -> None:
    """Each parameter's gradient over every batch (``.grad`` has summed the batches' shares)."""
    owners = {
        id(p): type(m).__name__ for _, m in module.named_modules() for p in m.parameters(False)
    }
    ws = fs.Workspace()
    for name, p in params:
        if p.grad is None:  # not on the path to the loss
            continue
        try:
            with fs.one_thread():
                st = fs.stats(p.grad, gsink.bins, ws)
        except Exception as exc:  # noqa: BLE001
            errors[f"{name} (gradient)"] = f"{type(exc).__name__}: {first_line(exc)}"
            continue
        layer = name.rsplit(".", 1)[0] if "." in name else ""
        keep = gsink.keep_values and (
            gsink.keep is None or name in gsink.keep or layer in gsink.keep
        )
        values = p.grad.detach().to("cpu", copy=True) if keep else None
        out[name] = Activation(name, layer, owners.get(id(p), "?"), st, values=values)


def _first(batch: Any) -> torch.Tensor:
    if isinstance(batch, dict):
        return next(iter(batch.values()))
    return batch[0] if isinstance(batch, tuple) else batch


def _forward(module: Any, batch: Any, last: list[str]) -> Any:
    """``module(batch)``; named inputs as keywords, a tuple as positional arguments."""
    try:
        if isinstance(batch, dict):
            return module(**batch)
        if isinstance(batch, tuple):
            return module(*batch)
        return module(batch)
    except _Cancel:
        raise
    except Exception as exc:
        where = f" after layer {last[0]!r}" if last[0] else ""
        if isinstance(batch, dict):
            shape = "inputs " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in batch.items())
        elif isinstance(batch, tuple):
            shape = "inputs of shapes " + ", ".join(str(tuple(t.shape)) for t in batch)
        else:
            shape = f"an input of shape {tuple(batch.shape)}"
        raise InputError(
            f"the model's forward pass failed on {shape}{where}: "
            f"{type(exc).__name__}: {first_line(exc)}"
        ) from None
