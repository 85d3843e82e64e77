"""Pairing quantized model files with their float originals by file name.

``resnet8_int8.onnx`` ↔ ``resnet8.onnx``, ``model-quant.onnx`` ↔ ``model.onnx``,
``resnet8_int8.pt`` ↔ ``resnet8.pt``: a name whose stem ends in a quantization tag pairs with the
file in the same folder whose stem is the rest. Only names are read, so it is instant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

# A stem's quantization tag: _int8, -uint8, .qdq, _quantized, _quant, _qop, _static, _dynamic...
_TAG = re.compile(
    r"[._-](u?int(4|8|16)|q(u)?int8|w8a8|qdq|qop|qoperator|quant(ized)?|static|dynamic|ptq|qat)$",
    re.IGNORECASE,
)
# Float originals can be any of these; a quantized ONNX file may come from a torch one.
_FLOAT_SUFFIXES = (".onnx", ".pt", ".pth", ".ckpt", ".safetensors", ".bin")


def float_stem(path: str | Path) -> str | None:
    """The stem of the float original (``resnet8`` for ``resnet8_int8_qdq.onnx``), or ``None``."""
    stem = Path(path).stem
    base = stem
    while (m := _TAG.search(base)) is not None:
        base = base[: m.start()]
    return base if base and base != stem else None


def float_partner(path: str | Path, candidates: Iterable[str | Path]) -> Path | None:
    """The float original of quantized file ``path`` among ``candidates`` (same folder first).

    Prefers the same extension (``.onnx`` ↔ ``.onnx``), then the order of ``_FLOAT_SUFFIXES``.
    """
    path = Path(path)
    base = float_stem(path)
    if base is None:
        return None
    found = [Path(c) for c in candidates if Path(c).stem == base and Path(c) != path]
    found = [c for c in found if c.suffix.lower() in _FLOAT_SUFFIXES]
    if not found:
        return None

    def rank(c: Path) -> tuple[int, int, int]:
        suffix = c.suffix.lower()
        return (
            c.parent != path.parent,
            suffix != path.suffix.lower(),
            _FLOAT_SUFFIXES.index(suffix),
        )

    return min(found, key=rank)


def pair_variants(paths: Iterable[str | Path]) -> list[tuple[Path, Path]]:
    """Every (float, quantized) pair among ``paths``, in the order the quantized files come."""
    items = [Path(p) for p in paths]
    pairs = []
    for p in items:
        partner = float_partner(p, items)
        if partner is not None:
            pairs.append((partner, p))
    return pairs
