"""A network that raises after a number of training forward passes: a run that crashes mid-fit.

Used by the run-process tests as ``model.arch: crashy_arch:CrashAfter`` (this folder is on sys.path).
"""

from __future__ import annotations

import torch

from layerscope.engine.zoo import SmallCNN


class CrashAfter(SmallCNN):
    """SmallCNN whose ``forward`` raises ``RuntimeError('boom')`` on training call ``crash_at``."""

    def __init__(self, num_classes: int = 10, crash_at: int = 9) -> None:
        super().__init__(num_classes=num_classes)
        self.calls = 0
        self.crash_at = crash_at

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            if self.calls >= self.crash_at:
                raise RuntimeError("boom: simulated crash in forward")
        return super().forward(x)
