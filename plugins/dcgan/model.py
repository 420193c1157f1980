"""DCGAN networks (Radford et al. 2016, arXiv:1511.06434), parameterised by resolution and channels.

The generator maps z through a 4x4 transposed convolution and stride-2 stages that halve the width,
ending in a transposed convolution with stride 2 (64, 128, 256 px) or 3 with a 5x5 kernel (96 px, the
portrait oil-painting notebook's topology), then tanh. The discriminator mirrors it with strided
convolutions and LeakyReLU(0.2), batch norm from its second layer, and returns a logit (the loss is
BCE-with-logits; the published notebook's sigmoid + BCELoss is numerically worse). Weights start from
N(0, 0.02), batch-norm scales from N(1, 0.02), as in the paper.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def _final(stride: int) -> tuple[int, int, int]:
    """Kernel, stride and padding of the last up/down-sampling layer."""
    return (5, 3, 1) if stride == 3 else (4, 2, 1)


class Generator(nn.Module):
    """z [N, z_dim] -> images [N, channels, R, R] in [-1, 1]."""

    def __init__(self, z_dim: int, widths: tuple[int, ...], channels: int, final_stride: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, widths[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for a, b in itertools.pairwise(widths):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        k, s, p = _final(final_stride)
        layers += [nn.ConvTranspose2d(widths[-1], channels, k, s, p, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    """images [N, channels, R, R] -> real/fake logits [N]."""

    def __init__(self, widths: tuple[int, ...], channels: int, final_stride: int = 2) -> None:
        super().__init__()
        k, s, p = _final(final_stride)
        rev = widths[::-1]
        layers: list[nn.Module] = [nn.Conv2d(channels, rev[0], k, s, p, bias=False), nn.LeakyReLU(0.2, True)]
        for a, b in itertools.pairwise(rev):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(rev[-1], 1, 4, 1, 0)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02); batch-norm weight N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def resolution(widths: tuple[int, ...], final_stride: int) -> int:
    """Output size: 4 px doubled per extra stage, times the last stride."""
    return 4 * 2 ** (len(widths) - 1) * final_stride
