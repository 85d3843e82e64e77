"""PyTorch capture: forward hooks on every module, one forward pass per batch, under ``no_grad``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from engine.capture.result import CaptureCancelled
from engine.capture.sink import PASS_FULL, PASS_HIST, PASS_MOMENTS, Sink
from engine.errors import InputError, first_line

if TYPE_CHECKING:
    import torch
    from torch import nn


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
) -> dict[str, str]:
    """Run ``batches`` through ``module`` with hooks feeding ``sink``; returns per-layer errors.

    Tensor names are module paths; the model's own output is ``(output)``.

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

        return hook

    training = {m: m.training for _, m in modules}
    handles = []
    try:
        for name, mod in modules:
            if name and is_scripted(mod):  # compiled submodule: no hooks on it or inside it
                if not any(name.startswith(f"{s}.") for s in skipped):
                    skipped.append(name)
                continue
            handles.append(mod.register_forward_hook(make_hook(name, type(mod).__name__)))
        module.eval()
        passes = [PASS_FULL] if len(batches) == 1 else [PASS_MOMENTS, PASS_HIST]
        with torch.no_grad():
            for phase in passes:
                for batch in batches:
                    sink.start_batch(phase)
                    calls.clear()
                    out = _forward(module, batch, last)
                    if scripted:  # hooks cannot fire inside compiled code: the output only
                        for sub, t in flatten_output(OUTPUT, out):
                            sink.add(sub, "", type(module).__name__, t)
                    del out
    except _Cancel:
        raise CaptureCancelled("capture cancelled") from None
    finally:
        for h in handles:
            h.remove()
        for m, was in training.items():
            m.train(was)
    for name in skipped:
        errors[name] = (
            "TorchScript submodule: forward hooks cannot fire inside it, so it was not captured"
        )
    return errors


def _forward(module: Any, batch: torch.Tensor, last: list[str]) -> Any:
    try:
        return module(batch)
    except _Cancel:
        raise
    except Exception as exc:
        where = f" after layer {last[0]!r}" if last[0] else ""
        raise InputError(
            f"the model's forward pass failed on an input of shape {tuple(batch.shape)}{where}: "
            f"{type(exc).__name__}: {first_line(exc)}"
        ) from None
