"""A Hugging Face folder (``config.json`` + safetensors, sharded or not) as a runnable module.

Needs the optional ``transformers`` package (``pip install 'layerscope[hf]'``). The module is
built on first use (``Model.module_factory``), from the folder only: no download, no remote
code, safetensors only (no pickles).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from layerscope.engine.errors import ArchitectureError, first_line


def module_factory(
    folder: Path, config: dict[str, Any], device: str = "cpu"
) -> Callable[[], Any] | None:
    """A builder of the folder's module, or ``None`` when it has no model config. The builder
    is false when ``transformers`` is not installed (the folder then opens as weights only)."""
    if not config.get("model_type"):
        return None
    return _Factory(folder, device)


class _Factory:
    """``build_module(folder, device)``; false where ``transformers`` cannot be imported.

    Whether it can is asked when somebody wants to know (``Model.runnable``), not on open:
    the search through ``sys.path`` costs about as much as opening a sharded folder's index.
    """

    __slots__ = ("folder", "device")

    def __init__(self, folder: Path, device: str) -> None:
        self.folder, self.device = folder, device

    def __bool__(self) -> bool:
        return _transformers_installed()

    def __call__(self) -> Any:
        return build_module(self.folder, self.device)


@functools.cache
def _transformers_installed() -> bool:
    return importlib.util.find_spec("transformers") is not None


def build_module(folder: Path, device: str = "cpu") -> Any:
    """The ``transformers`` model class named by ``config.json``'s ``architectures`` (else
    ``AutoModel``), with the folder's weights, in eval mode on ``device``."""
    try:
        import transformers
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ArchitectureError(
            f"{folder.name}: running a Hugging Face model needs transformers "
            f"(pip install 'layerscope[hf]'): {first_line(exc)}"
        ) from None
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # our stderr is for our progress
    try:
        config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
        names = getattr(config, "architectures", None) or []
        cls = getattr(transformers, names[0], None) if names else None
        cls = cls or transformers.AutoModel
        module = cls.from_pretrained(
            str(folder), config=config, local_files_only=True, use_safetensors=True
        )
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds; one line for all
        raise ArchitectureError(
            f"{folder.name}: transformers cannot build this model: {type(exc).__name__}: "
            f"{first_line(exc)[:200]}"
        ) from None
    return module.eval().to(device)
