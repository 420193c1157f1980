"""Progressive GAN networks (Karras et al. 2018) as the calligraphy project built them (seeds-code-report §1.2-1.4).

Every layer has an equalized learning rate: weights are stored N(0, 1) and scaled by sqrt(2 / fan_in) at run
time, the linear layers included (the published equalized Linear skipped its initialisation and started at
zero). The generator normalises pixels (PixelNorm) after every convolution and ends in a linear toRGB (no
tanh); the discriminator mirrors it and ends in a minibatch standard deviation map, a 3x3 and a 4x4
convolution and a linear logit. All stages are built up front, so the optimizer state covers every layer
from the first step and a run resumes mid-stage and mid-fade with nothing to rebuild.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class EqConv2d(nn.Module):
    """Conv2d with an equalized learning rate: N(0, 1) weights scaled by sqrt(2 / (in * k * k)) when used."""

    def __init__(self, cin: int, cout: int, k: int, padding: int = 0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = math.sqrt(2.0 / (cin * k * k))
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqLinear(nn.Module):
    """Linear with an equalized learning rate: N(0, 1) weights scaled by sqrt(2 / in) when used."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = math.sqrt(2.0 / cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each pixel's feature vector to unit mean square."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def minibatch_std(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Append one map holding the batch's average feature standard deviation (biased, whole batch as the group)."""
    std = torch.sqrt(x.float().var(dim=0, unbiased=False) + eps).mean().to(x.dtype)
    return torch.cat([x, std.expand(x.shape[0], 1, x.shape[2], x.shape[3])], 1)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class Generator(nn.Module):
    """z [N, z_dim] -> images [N, C, R, R] at stage ``stage`` (R = 4 * 2**stage), faded in by ``alpha``."""

    def __init__(self, z_dim: int, widths: tuple[int, ...], channels: int = 1) -> None:
        super().__init__()
        w0 = widths[0]
        self.z_dim, self.w0 = z_dim, w0
        self.input = EqLinear(z_dim, w0 * 16)
        self.conv0 = EqConv2d(w0, w0, 3, 1)
        self.blocks = nn.ModuleList(nn.ModuleList([EqConv2d(a, b, 3, 1), EqConv2d(b, b, 3, 1)])
                                    for a, b in itertools.pairwise(widths))
        self.to_rgb = nn.ModuleList(EqConv2d(w, channels, 1) for w in widths)

    @property
    def stages(self) -> int:
        """Number of resolutions (4 px is stage 0)."""
        return len(self.to_rgb)

    def forward(self, z: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        stage = self.stages - 1 if stage is None else stage
        h = self.input(pixel_norm(z)).view(-1, self.w0, 4, 4)
        h = pixel_norm(self.conv0(pixel_norm(_lrelu(h))))
        h = pixel_norm(_lrelu(h))
        prev = h
        for block in self.blocks[:stage]:
            prev = h
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            for conv in block:
                h = pixel_norm(_lrelu(conv(h)))
        out = self.to_rgb[stage](h)
        if stage > 0 and alpha < 1.0:
            low = F.interpolate(self.to_rgb[stage - 1](prev), scale_factor=2, mode="nearest")
            out = alpha * out + (1 - alpha) * low
        return out


class Discriminator(nn.Module):
    """images at stage ``stage`` -> real/fake logits [N]; the mirror of :class:`Generator`."""

    def __init__(self, widths: tuple[int, ...], channels: int = 1) -> None:
        super().__init__()
        w0 = widths[0]
        self.from_rgb = nn.ModuleList(EqConv2d(channels, w, 1) for w in widths)
        # blocks[k-1] takes stage k's features (width widths[k]) down to stage k-1's (widths[k-1])
        self.blocks = nn.ModuleList(nn.ModuleList([EqConv2d(b, a, 3, 1), EqConv2d(a, a, 3, 1)])
                                    for a, b in itertools.pairwise(widths))
        self.head_conv = EqConv2d(w0 + 1, w0, 3, 1)
        self.head_conv4 = EqConv2d(w0, w0, 4, 0)
        self.head_linear = EqLinear(w0, 1)

    def _block(self, k: int, h: torch.Tensor) -> torch.Tensor:
        for conv in self.blocks[k - 1]:
            h = _lrelu(conv(h))
        return F.avg_pool2d(h, 2)

    def forward(self, x: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        stage = len(self.from_rgb) - 1 if stage is None else stage
        h = _lrelu(self.from_rgb[stage](x))
        if stage > 0:
            h = self._block(stage, h)
            if alpha < 1.0:
                low = _lrelu(self.from_rgb[stage - 1](F.avg_pool2d(x, 2)))
                h = alpha * h + (1 - alpha) * low
            for k in range(stage - 1, 0, -1):
                h = self._block(k, h)
        h = _lrelu(self.head_conv(minibatch_std(h)))
        h = _lrelu(self.head_conv4(h))
        return self.head_linear(h.flatten(1)).flatten()


def r1_penalty(d: nn.Module, real: torch.Tensor, augment: Callable[[torch.Tensor], torch.Tensor], stage: int,
               alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Real logits and E||grad_x D(A(x))||^2, differentiated w.r.t. the un-augmented reals, in fp32."""
    x = real.detach().float().requires_grad_(True)
    with torch.autocast(x.device.type, enabled=False):
        logits = d(augment(x), stage, alpha)
        (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return logits, grad.pow(2).flatten(1).sum(1).mean()
