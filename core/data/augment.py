"""Differentiable augmentation on the device (DiffAugment, Zhao et al. 2020, arXiv:2006.10738).

Applied to real and generated batches alike before every discriminator call, so a GAN trained on a
few thousand glyphs does not overfit its discriminator (the calligraphy project collapses without it).
Policy order as in the paper's code: brightness, saturation, contrast, translation, cutout; each
sample gets its own random parameters. No flips: CJK glyphs are not symmetric. Works on any float
range; ``fill`` is the value translation and cutout expose (0 in the paper's [-1, 1] setting).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _rand(x: torch.Tensor, *shape: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(x.shape[0], *shape, device=x.device, dtype=x.dtype, generator=generator)


def brightness(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add U(-0.5, 0.5) per sample."""
    return x + (_rand(x, 1, 1, 1, generator=generator) - 0.5)


def saturation(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Scale the distance from the channel mean by U(0, 2) (a no-op on one channel)."""
    if x.shape[1] == 1:
        return x
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand(x, 1, 1, 1, generator=generator) * 2) + mean


def contrast(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Scale the distance from the image mean by U(0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, 1, 1, 1, generator=generator) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125, fill: float = 0.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift by whole pixels in [-r, r] on each axis, r = int(ratio * size + 0.5); exposed area = ``fill``."""
    n, _, h, w = x.shape
    ry, rx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = (_rand(x, generator=generator) * (2 * ry + 1)).long().clamp_(max=2 * ry) - ry
    dx = (_rand(x, generator=generator) * (2 * rx + 1)).long().clamp_(max=2 * rx) - rx
    ys = torch.arange(h, device=x.device).view(1, h, 1) - dy.view(n, 1, 1) + ry  # index into the padded image
    xs = torch.arange(w, device=x.device).view(1, 1, w) - dx.view(n, 1, 1) + rx
    padded = F.pad(x, (rx, rx, ry, ry), value=fill)
    flat = padded.flatten(2)  # [n, c, (h+2ry)(w+2rx)]
    idx = (ys * (w + 2 * rx) + xs).view(n, 1, h * w).expand(-1, x.shape[1], -1)
    return flat.gather(2, idx).view_as(x)


def cutout(x: torch.Tensor, ratio: float = 0.5, fill: float = 0.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Set one square of side int(ratio * size + 0.5), centred anywhere (clipped at borders), to ``fill``."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = (_rand(x, generator=generator) * (h + 1 - sh % 2)).long()
    cx = (_rand(x, generator=generator) * (w + 1 - sw % 2)).long()
    y0, x0 = (cy - sh // 2).view(n, 1, 1), (cx - sw // 2).view(n, 1, 1)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= y0) & (ys < y0 + sh) & (xs >= x0) & (xs < x0 + sw)
    return torch.where(inside.unsqueeze(1), torch.full_like(x, fill), x)


POLICIES = {"color": (brightness, saturation, contrast), "translation": (translation,), "cutout": (cutout,)}


def check_policy(policy: str, option: str = "diffaugment") -> None:
    """Refuse a DiffAugment policy with an unknown part before any training starts (one line, what to use)."""
    from ..errors import GlyphError

    unknown = [p for p in policy.split(",") if p and p not in POLICIES]
    if unknown:
        raise GlyphError(f"{option} '{policy}' has an unknown part '{unknown[0]}'; use a comma-separated list of "
                         f"{', '.join(POLICIES)}, or '' for none")


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout", fill: float = 0.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the comma-separated ``policy`` (``color``, ``translation``, ``cutout``) to a batch."""
    for name in [p for p in policy.split(",") if p]:
        if name not in POLICIES:
            raise ValueError(f"unknown DiffAugment policy '{name}'; use color, translation, cutout")
        for fn in POLICIES[name]:
            x = fn(x, fill=fill, generator=generator) if fn in (translation, cutout) else fn(x, generator=generator)
    return x
