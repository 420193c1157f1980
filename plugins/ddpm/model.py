"""GANji's diffusion UNet (seeds-code-report §2.4), parameterised by width.

Down: a 3x3 stem at 64 px, then max-pool + block to 32, 16 and 8 px. Bottleneck: three blocks at 8 px
through ``bottleneck`` channels. Up: bilinear x2, concatenation with the matching down features, a block.
A block is three (3x3 conv, GroupNorm, ReLU) units with a 1x1 shortcut, plus the time embedding as a
per-channel bias. The time embedding is the fixed sinusoidal table (dim 256, base 10000). Optional
self-attention (GroupNorm, one qkv projection, scaled dot-product attention, residual) after the blocks at
the resolutions listed. The output is linear (the GANji paper's tanh is not in its code, rightly: the
network predicts noise, which is not bounded).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of (integer or fractional) timesteps: sin on even, cos on odd indices."""
    half = torch.arange(0, dim, 2, device=t.device, dtype=torch.float32)
    freq = torch.exp(-math.log(10000.0) * half / dim)
    angles = t.float()[:, None] * freq[None]
    emb = torch.zeros(len(t), dim, device=t.device)
    emb[:, 0::2] = torch.sin(angles)
    emb[:, 1::2] = torch.cos(angles)
    return emb


def _groups(ch: int, wanted: int) -> int:
    g = min(wanted, ch)
    while ch % g:
        g -= 1
    return g


class Block(nn.Module):
    """Three (conv, GroupNorm, ReLU) units, a 1x1 shortcut, and the time embedding added per channel."""

    def __init__(self, cin: int, cout: int, tdim: int, groups: int = 4) -> None:
        super().__init__()
        chans = [(cin, cin), (cin, cout), (cout, cout)]
        self.units = nn.Sequential(*[nn.Sequential(nn.Conv2d(a, b, 3, 1, 1, bias=False),
                                                   nn.GroupNorm(_groups(b, groups), b), nn.ReLU(True))
                                     for a, b in chans])
        self.short = nn.Conv2d(cin, cout, 1)
        self.time = nn.Linear(tdim, cout)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        return self.units(x) + self.short(x) + self.time(temb)[:, :, None, None]


class Attention(nn.Module):
    """Self-attention over positions with a residual connection."""

    def __init__(self, ch: int, heads: int = 4) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(ch, 8), ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        y = F.scaled_dot_product_attention(q, k, v)  # [B, heads, HW, C/heads]
        return x + self.out(y.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """(x_t [N, C, 64, 64], t [N]) -> the prediction (noise or v) of the same shape."""

    def __init__(self, channels: int = 1, widths: tuple[int, int, int, int] = (64, 128, 256, 256),
                 bottleneck: int = 512, tdim: int = 256, attention: tuple[int, ...] = (), resolution: int = 64,
                 groups: int = 4) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.tdim = tdim
        self.inc = nn.Conv2d(channels, w0, 3, 1, 1)
        self.down = nn.ModuleList([Block(w0, w1, tdim, groups), Block(w1, w2, tdim, groups),
                                   Block(w2, w3, tdim, groups)])
        self.mid = nn.ModuleList([Block(w3, bottleneck, tdim, groups), Block(bottleneck, bottleneck, tdim, groups),
                                  Block(bottleneck, w3, tdim, groups)])
        self.up = nn.ModuleList([Block(w3 + w2, w1, tdim, groups), Block(w1 + w1, w0, tdim, groups),
                                 Block(w0 + w0, w0, tdim, groups)])
        down_res = [resolution // 2, resolution // 4, resolution // 8]
        up_res = [resolution // 4, resolution // 2, resolution]
        self.down_attn = nn.ModuleList(Attention(c) if r in attention else nn.Identity()
                                       for c, r in zip((w1, w2, w3), down_res, strict=True))
        self.up_attn = nn.ModuleList(Attention(c) if r in attention else nn.Identity()
                                     for c, r in zip((w1, w0, w0), up_res, strict=True))
        self.outc = nn.Conv2d(w0, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = timestep_embedding(t, self.tdim).to(x.dtype)
        h = self.inc(x)
        skips = [h]
        for block, attn in zip(self.down, self.down_attn, strict=True):
            h = attn(block(F.max_pool2d(h, 2), temb))
            skips.append(h)
        skips.pop()  # the deepest features continue through the bottleneck, not a skip
        for block in self.mid:
            h = block(h, temb)
        for block, attn in zip(self.up, self.up_attn, strict=True):
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=True)
            h = attn(block(torch.cat([h, skips.pop()], 1), temb))
        return self.outc(h)
