"""VAE networks: GANji's ResNet VAE (Kingma & Welling 2014, arXiv:1312.6114) and the oil-painting MLP VAE.

ResNet encoder (seeds-code-report §2.2): a 3x3 stem, then per width a stride-2 residual block and a
block that widens to the next width (7 blocks for 64 -> 128 -> 256 -> 512 at 64 px), flattened to the
mean and log-variance of the latent. The decoder mirrors it with transposed residual blocks and ends
in logits (a sigmoid only when sampling). The MLP variant is the notebook's 784 -> 400 -> z.
"""

from __future__ import annotations

import torch
from torch import nn


class ResBlock(nn.Module):
    """Two 3x3 convolutions with batch norm; a 1x1 shortcut when the shape changes (``up``: transposed)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, up: bool = False) -> None:
        super().__init__()
        if up and stride == 2:
            first = nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1, bias=False)
            short = nn.ConvTranspose2d(cin, cout, 1, 2, 0, output_padding=1, bias=False)
        else:
            first = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            short = nn.Conv2d(cin, cout, 1, stride, 0, bias=False)
        self.body = nn.Sequential(first, nn.BatchNorm2d(cout), nn.ReLU(True),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.short = nn.Sequential(short, nn.BatchNorm2d(cout)) if (cin != cout or stride != 1) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.short(x))


def _plan(widths: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(in, out, stride) of the encoder's blocks: per width a stride-2 block, then one widening to the next."""
    plan = []
    for i, w in enumerate(widths):
        plan.append((w, w, 2))
        if i + 1 < len(widths):
            plan.append((w, widths[i + 1], 1))
    return plan


class ResEncoder(nn.Module):
    """images [N, C, R, R] -> (mu, logvar) [N, latent]."""

    def __init__(self, channels: int, widths: tuple[int, ...], latent: int, resolution: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(True))
        self.blocks = nn.Sequential(*[ResBlock(a, b, s) for a, b, s in _plan(widths)])
        side = resolution // 2 ** len(widths)
        self.mu = nn.Linear(widths[-1] * side * side, latent)
        self.logvar = nn.Linear(widths[-1] * side * side, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.blocks(self.stem(x)).flatten(1)
        return self.mu(h), self.logvar(h)


class ResDecoder(nn.Module):
    """latents [N, latent] -> logits [N, C, R, R]."""

    def __init__(self, channels: int, widths: tuple[int, ...], latent: int, resolution: int) -> None:
        super().__init__()
        self.side = resolution // 2 ** len(widths)
        self.top = widths[-1]
        self.fc = nn.Linear(latent, widths[-1] * self.side * self.side)
        plan = [(b, a, s) for a, b, s in reversed(_plan(widths))]
        self.blocks = nn.Sequential(*[ResBlock(a, b, s, up=True) for a, b, s in plan])
        self.head = nn.Sequential(nn.Conv2d(widths[0], widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(True), nn.Conv2d(widths[0], channels, 3, 1, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(len(z), self.top, self.side, self.side)
        return self.head(self.blocks(h))


class MLPEncoder(nn.Module):
    """The oil-painting notebook's encoder: flatten -> 400 -> (mu, logvar)."""

    def __init__(self, channels: int, hidden: int, latent: int, resolution: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(channels * resolution * resolution, hidden), nn.ReLU(True))
        self.mu, self.logvar = nn.Linear(hidden, latent), nn.Linear(hidden, latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class MLPDecoder(nn.Module):
    """latents -> 400 -> logits of every pixel."""

    def __init__(self, channels: int, hidden: int, latent: int, resolution: int) -> None:
        super().__init__()
        self.shape = (channels, resolution, resolution)
        self.body = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(True),
                                  nn.Linear(hidden, channels * resolution * resolution))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z).view(len(z), *self.shape)
