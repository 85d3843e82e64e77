"""A model folder as a set: group variants of one model (float, int8, state dict, ...) for the picker.

``resnet8.onnx``, ``resnet8_int8.onnx``, ``resnet8_uint8.onnx``, ``resnet8.pt`` and
``resnet8_int8.pt`` form one group, ``resnet8``. Formats are sniffed from content (a few bytes per
file), so listing a folder stays fast however large the models are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from layerscope.engine.errors import LayerscopeError, ModelFileError, UnknownFormatError
from layerscope.engine.loaders.sniff import is_sharded_folder, sniff

# Name suffixes that mark a variant of the same model, longest first so `_uint8` wins over `_int8`.
_VARIANT_RE = re.compile(
    r"[_\-.](?P<v>uint8|int8|int4|int16|qdq|qop|qoperator|quant|quantized|dynamic|static|"
    r"fp16|bf16|fp32|fp8|float|state|state_dict|statedict|sd|ckpt|best|last|script|jit|traced)$",
    re.IGNORECASE,
)
_QUANT_VARIANTS = {"uint8", "int8", "int4", "int16", "qdq", "qop", "qoperator", "quant", "quantized", "dynamic", "static"}  # fmt: skip


@dataclass
class ModelEntry:
    """One openable model: a file, or a folder of safetensors shards."""

    path: Path
    format: str
    size: int
    variant: str = "float"
    shards: int = 1

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def quantized(self) -> bool:
        return self.variant in _QUANT_VARIANTS


@dataclass
class ModelGroup:
    """Variants of one model, e.g. float ONNX and its int8 twin."""

    name: str
    entries: list[ModelEntry] = field(default_factory=list)

    @property
    def float_entries(self) -> list[ModelEntry]:
        return [e for e in self.entries if not e.quantized]

    @property
    def quantized_entries(self) -> list[ModelEntry]:
        return [e for e in self.entries if e.quantized]

    def pairs(self) -> list[tuple[ModelEntry, ModelEntry]]:
        """(float, quantized) pairs of the same format family, for float-vs-quantized comparison.

        The float twin is one that can run where there is a choice: ``resnet8.pt`` (a module)
        before ``resnet8.ckpt`` or ``resnet8.safetensors`` (weights only), whatever the names' order.
        """
        floats = sorted(self.float_entries, key=lambda e: _weights_only(e))
        out = []
        for q in self.quantized_entries:
            same = [f for f in floats if _family(f.format) == _family(q.format)]
            if same or floats:
                out.append(((same or floats)[0], q))
        return out


# Variants and suffixes of files that usually hold weights without the code to run them.
_WEIGHTS_ONLY_VARIANTS = {"state", "state_dict", "statedict", "sd", "ckpt", "best", "last"}


def _weights_only(entry: ModelEntry) -> bool:
    """Likely weights only (a state dict, a Lightning checkpoint, safetensors): a poorer twin."""
    return (
        entry.format.startswith("safetensors")
        or entry.path.suffix.lower() == ".ckpt"
        or entry.variant in _WEIGHTS_ONLY_VARIANTS
    )


def _family(fmt: str) -> str:
    return "onnx" if fmt == "onnx" else "torch"


def split_variant(stem: str) -> tuple[str, str]:
    """``resnet8_int8`` → (``resnet8``, ``int8``); names without a marker are ``float``."""
    variant = "float"
    m = _VARIANT_RE.search(stem)
    if m and m.start() > 0:
        variant = m.group("v").lower()
        stem = stem[: m.start()]
    return stem, variant


def folder_entry(path: Path) -> ModelEntry:
    shards = sorted(path.glob("*.safetensors"))
    size = sum(p.stat().st_size for p in shards)
    return ModelEntry(path=path, format="safetensors-sharded", size=size, shards=len(shards))


def describe(path: Path) -> ModelEntry:
    """A ``ModelEntry`` for one path (raises ``LayerscopeError`` if it is not a model)."""
    if path.is_dir():
        if not is_sharded_folder(path):
            raise ModelFileError(f"{path} holds no safetensors shards")
        entry = folder_entry(path)
        entry.variant = split_variant(path.name)[1]
        return entry
    fmt = sniff(path)
    return ModelEntry(
        path=path, format=fmt, size=path.stat().st_size, variant=split_variant(path.stem)[1]
    )


# Extensions a model file usually has: such a file that is no model is worth a word to the user
# (a json, an image or a log beside the models is not).
MODEL_SUFFIXES = {".pt", ".pth", ".ckpt", ".onnx", ".safetensors", ".bin", ".jit", ".ts", ".pkl"}


@dataclass
class Listing:
    """A folder's models, and the files that looked like models but could not be listed."""

    groups: list[ModelGroup]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, one-line reason)


def discover(folder: str | Path) -> list[ModelGroup]:
    """Every model in ``folder`` (files, and sub-folders of shards), grouped by model name."""
    return list_folder(folder).groups


def list_folder(folder: str | Path) -> Listing:
    """``discover`` plus the model-like files it skipped and why (unreadable, corrupt, unknown)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: not a folder")
    groups: dict[str, ModelGroup] = {}
    skipped: list[tuple[Path, str]] = []
    candidates = [folder] if is_sharded_folder(folder) else sorted(folder.iterdir())
    for path in candidates:
        if path.name.startswith("."):
            continue
        try:
            entry = describe(path)
        except (LayerscopeError, OSError) as exc:
            # Not a model: json, images, logs... said only for files named like a model, or that
            # could not be read at all.
            unknown = isinstance(exc, UnknownFormatError) or path.is_dir()
            if path.suffix.lower() in MODEL_SUFFIXES or not unknown:
                skipped.append((path, str(exc).replace(str(path), path.name)))
            continue
        base = split_variant(path.stem if path.is_file() else path.name)[0]
        groups.setdefault(base, ModelGroup(name=base)).entries.append(entry)
    for g in groups.values():  # float first, then quantized; stable within each
        g.entries.sort(key=lambda e: (e.quantized, e.variant != "float", e.path.name))
    return Listing(list(groups.values()), skipped)


def opens_as_model(path: Path) -> bool:
    """Whether the app should open ``path`` as one model (a file, a folder of shards) rather than
    list it as a folder of models (one holding ``x.safetensors`` files is such a folder)."""
    return not path.is_dir() or is_sharded_folder(path)
