"""A small Fourier neural operator (image to image) and synthetic data for the regression recipe.

``FNO2d`` maps ``C_in×H×W`` to ``C_out×H×W``: a 1×1 lift, a few Fourier layers (a learnt
filter on the lowest ``modes`` frequencies plus a 1×1 path, LayerNorm over channels, GELU) and a
1×1 projection. ``smoothing_pairs`` makes input/target pairs (noise and its blurred version) so
``configs/fno_regression.yaml`` trains anywhere without a data file.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset


class SpectralConv2d(nn.Module):
    """Multiply the lowest ``modes``×``modes`` Fourier coefficients by learnt complex weights."""

    def __init__(self, in_ch: int, out_ch: int, modes: int) -> None:
        super().__init__()
        self.modes = modes
        scale = 1.0 / (in_ch * out_ch)
        # real and imaginary parts kept apart: complex parameters trip optimizers and exporters
        self.weight = nn.Parameter(scale * torch.randn(2, in_ch, out_ch, modes, modes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = min(self.modes, h, w // 2 + 1)
        spec = torch.fft.rfft2(x, norm="ortho")
        weight = torch.complex(self.weight[0], self.weight[1])[:, :, :m, :m]
        out = torch.zeros(
            x.shape[0], weight.shape[1], h, w // 2 + 1, dtype=spec.dtype, device=x.device
        )
        out[:, :, :m, :m] = torch.einsum("bixy,ioxy->boxy", spec[:, :, :m, :m], weight)
        return torch.fft.irfft2(out, s=(h, w), norm="ortho")


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of an N×C×H×W tensor."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FourierLayer(nn.Module):
    def __init__(self, width: int, modes: int) -> None:
        super().__init__()
        self.spectral = SpectralConv2d(width, width, modes)
        self.pointwise = nn.Conv2d(width, width, 1)
        self.norm = ChannelLayerNorm(width)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.spectral(x) + self.pointwise(x)))


class FNO2d(nn.Module):
    """Fourier neural operator, 2-D: ``in_channels×H×W`` in, ``out_channels×H×W`` out, any
    H×W (the exported ONNX takes the training data's size)."""

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        width: int = 16,
        modes: int = 8,
        layers: int = 2,
    ) -> None:
        super().__init__()
        self.lift = nn.Conv2d(in_channels, width, 1)
        self.layers = nn.Sequential(*(FourierLayer(width, modes) for _ in range(layers)))
        self.project = nn.Sequential(
            nn.Conv2d(width, width, 1), nn.GELU(), nn.Conv2d(width, out_channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.layers(self.lift(x)))


def smoothing_pairs(
    n: int = 64, size: int = 64, seed: int = 0, val_fraction: float = 0.25
) -> tuple[TensorDataset, TensorDataset]:
    """(train, val) datasets of ``1×size×size`` noise and its low-pass filtered version."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, size, size, generator=gen)
    spec = torch.fft.rfft2(x)
    fy = torch.fft.fftfreq(size).abs().view(-1, 1)
    fx = torch.fft.rfftfreq(size).view(1, -1)
    y = torch.fft.irfft2(spec * torch.exp(-((fx**2 + fy**2) * 200.0)), s=(size, size))
    n_val = max(1, int(n * val_fraction))
    return TensorDataset(x[n_val:], y[n_val:]), TensorDataset(x[:n_val], y[:n_val])
