"""Capture puts every module in eval mode and gives each its own mode back, touching only those
whose mode it changed (``train()`` recurses: calling it on every module was O(modules x depth))."""

from __future__ import annotations

import torch
from torch import nn

from layerscope.engine.capture import capture


class _Counting(nn.Module):
    calls = 0

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def train(self, mode: bool = True) -> _Counting:
        _Counting.calls += 1
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def _modes(net: nn.Module) -> dict[str, bool]:
    return {n: m.training for n, m in net.named_modules()}


def test_mixed_modes_come_back_exactly() -> None:
    torch.manual_seed(0)
    inner = nn.Sequential(nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Sequential(nn.Linear(8, 8)))
    net = nn.Sequential(nn.Linear(8, 8), inner, nn.ReLU(), nn.Linear(8, 2)).train()
    inner[0].eval()  # a frozen BatchNorm inside a training model
    inner[2].eval()
    net[3].eval()
    before = _modes(net)
    capture(net, torch.randn(6, 8))
    assert _modes(net) == before
    net.eval()
    inner[1].train()  # a training child inside an eval model
    before = _modes(net)
    capture(net, torch.randn(6, 8))
    assert _modes(net) == before


def test_an_eval_model_has_train_called_once_per_module() -> None:
    net = nn.Sequential(*[_Counting() for _ in range(10)]).eval()
    _Counting.calls = 0
    capture(net, torch.randn(3, 4))
    assert _Counting.calls == 10  # by net.eval() only: nothing to give back
    assert not any(_modes(net).values())
    net.train()
    _Counting.calls = 0
    capture(net, torch.randn(3, 4))
    assert all(_modes(net).values())
    assert _Counting.calls == 20  # eval(), then the root's train(True) gives every child back
