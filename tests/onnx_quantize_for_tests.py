"""The one ONNX Runtime static-quantization helper of the test suite (tests import it as
``from tests.onnx_quantize_for_tests import quantize_static_onnx``).

Calibration is deterministic: ``batches`` as given, else ``n`` seeded standard-normal batches of
``shape`` (times ``scale``: a small scale calibrates a range that real inputs will overflow).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

_QTYPES = {"int8": "QInt8", "uint8": "QUInt8"}


def calibration_batches(
    shape: tuple[int, ...], n: int = 4, seed: int = 0, scale: float = 1.0
) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(scale * rng.standard_normal(shape)).astype(np.float32) for _ in range(n)]


class _Reader:
    """ONNX Runtime calibration reader over a fixed list of batches."""

    def __init__(self, name: str, batches: Sequence[np.ndarray]) -> None:
        self._it = iter([{name: np.asarray(b, dtype=np.float32)} for b in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def quantize_static_onnx(
    src: Path,
    dst: Path,
    *,
    input_name: str = "input",
    shape: tuple[int, ...] = (1, 3, 32, 32),
    batches: Sequence[np.ndarray] | None = None,
    fmt: str = "qdq",
    weight_type: str = "int8",
    activation_type: str = "uint8",
    per_channel: bool = False,
    exclude: list[str] | None = None,
    seed: int = 0,
    scale: float = 1.0,
) -> Path:
    """``quantize_static(src → dst)`` in QDQ (``fmt="qdq"``) or QOperator (``"qoperator"``)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    if batches is None:
        batches = calibration_batches(shape, seed=seed, scale=scale)
    quantize_static(
        str(src), str(dst), _Reader(input_name, batches),
        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
        weight_type=getattr(QuantType, _QTYPES[weight_type]),
        activation_type=getattr(QuantType, _QTYPES[activation_type]),
        per_channel=per_channel, nodes_to_exclude=exclude or [],
    )  # fmt: skip
    return Path(dst)
