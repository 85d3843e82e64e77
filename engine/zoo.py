"""Built-in architectures and ``module:Class`` resolution for binding state dicts to code.

``resnet8`` is the MLPerf Tiny image-classification network (CIFAR-10, ~78k parameters);
``smallcnn`` is a tiny CNN for tests and quick experiments.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from layerscope.engine.errors import ArchitectureError, first_line


class BasicBlock(nn.Module):
    """Two 3×3 conv/BN pairs with a residual add; a strided 1×1 conv on the shortcut when downsampling."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = (
            nn.Conv2d(in_ch, out_ch, 1, stride=stride)
            if stride != 1 or in_ch != out_ch
            else nn.Identity()
        )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu2(y + self.shortcut(x))


class ResNet8(nn.Module):
    """ResNet-8 as in MLPerf Tiny: a 16-channel stem, three residual stacks (16, 32, 64), pool, linear."""

    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.layer3 = BasicBlock(32, 64, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.pool(x)))


class SmallCNN(nn.Module):
    """Two conv/ReLU/pool stages and a linear head: small enough for unit tests."""

    input_shape = (3, 32, 32)

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, width * 2, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(width * 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.features(x)))


ZOO: dict[str, Callable[..., nn.Module]] = {"resnet8": ResNet8, "smallcnn": SmallCNN}


def resolve_arch(spec: str) -> Callable[..., nn.Module]:
    """A zoo name (``resnet8``) or ``package.module:Class`` / ``module:factory`` → the callable.

    The working folder is importable, as with ``python -m``: ``--arch mypkg.models:Net`` works
    from the folder that holds ``mypkg``.
    """
    if spec in ZOO:
        return ZOO[spec]
    if ":" not in spec:
        raise ArchitectureError(
            f"unknown architecture {spec!r}: use a built-in name ({', '.join(ZOO)}) "
            "or 'package.module:Class'"
        )
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise ArchitectureError(f"--arch {spec}: expected 'package.module:Class'")
    module = _import(mod_name, spec)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ArchitectureError(f"{mod_name!r} has no attribute {attr!r} (from --arch {spec})")
    if not callable(obj):
        raise ArchitectureError(f"--arch {spec} is not a class or function")
    return obj


def _import(mod_name: str, spec: str) -> Any:
    cwd = os.getcwd()
    if cwd not in sys.path and os.path.realpath(cwd) not in map(_real, sys.path):
        sys.path.insert(0, cwd)  # as `python -m` does; kept, for the module's own lazy imports
    importlib.invalidate_caches()  # a module written since the last import is seen
    try:
        return importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (mod_name == missing or mod_name.startswith(missing + ".")):
            top = mod_name.split(".")[0]
            raise ArchitectureError(
                f"cannot import {missing!r} (for --arch {spec}): run from the folder that holds "
                f"{top!r} or set PYTHONPATH=/path/to/the/folder/holding/{top}"
            ) from None
        raise ArchitectureError(
            f"importing {mod_name!r} (for --arch {spec}) failed: it needs {missing!r}, which is "
            "not installed here"
        ) from None
    except Exception as exc:  # the user's module raised while importing: one line, no traceback
        raise ArchitectureError(
            f"importing {mod_name!r} (for --arch {spec}) raised {type(exc).__name__}: "
            f"{first_line(exc, 300)}"
        ) from None


def _real(p: str) -> str:
    return os.path.realpath(p or ".")


def _parameters(factory: Callable[..., Any]) -> tuple[list[str], bool] | None:
    """The factory's keyword-passable parameter names, and whether it takes ``**kwargs``."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    names = [
        n for n, p in sig.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]  # fmt: skip
    return names, any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def arch_kwargs_for(
    spec: str, explicit: Mapping[str, Any], hyper_parameters: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Constructor arguments and where each came from (``arch_kwargs`` / ``hyper_parameters``).

    A Lightning checkpoint's ``hyper_parameters`` fill the parameters the constructor names
    (never a ``**kwargs`` catch-all: a learning rate is no layer width); explicit ones win.
    """
    kwargs: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if hyper_parameters:
        params = _parameters(resolve_arch(spec))
        for name in params[0] if params else []:
            if name in hyper_parameters and name not in explicit:
                kwargs[name] = hyper_parameters[name]
                sources[name] = "hyper_parameters"
    for name, value in explicit.items():
        kwargs[name] = value
        sources[name] = "arch_kwargs"
    return kwargs, sources


def build(spec: str, **kwargs: Any) -> nn.Module:
    """Instantiate an architecture; constructor errors become one-line ``ArchitectureError``s."""
    factory = resolve_arch(spec)
    params = _parameters(factory)
    if params is not None:
        names, var_kw = params
        try:
            inspect.signature(factory).bind(**kwargs)
        except TypeError:
            unknown = [] if var_kw else [k for k in kwargs if k not in names]
            if unknown:
                raise ArchitectureError(
                    f"--arch {spec} does not take {', '.join(map(repr, unknown))} "
                    f"(it takes: {', '.join(names) or 'no arguments'}); fix --arch-kwargs"
                ) from None
            sig = inspect.signature(factory)
            missing = [
                n for n, p in sig.parameters.items()
                if n not in kwargs and p.default is p.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            ]  # fmt: skip
            if missing:
                example = json.dumps({n: "..." for n in missing})
                raise ArchitectureError(
                    f"--arch {spec} needs {', '.join(map(repr, missing))}: pass them with "
                    f"--arch-kwargs '{example}'"
                ) from None
    try:
        model = factory(**kwargs)
    except Exception as exc:  # the user's constructor: one line that names the arguments
        raise ArchitectureError(
            f"cannot build {spec}({_call_args(kwargs)}): {type(exc).__name__}: {first_line(exc, 300)}"
        ) from None
    if not isinstance(model, nn.Module):
        raise ArchitectureError(f"--arch {spec} did not return a torch.nn.Module")
    return model


def _call_args(kwargs: Mapping[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return text if len(text) <= 200 else text[:197] + "…"
