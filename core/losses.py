"""Small image losses shared by methods (an edge loss compares Sobel magnitudes: dsfgan, restorecae)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Edge magnitude of single-channel images (the outline loss compares these)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device, dtype=x.dtype)
    k = torch.stack([kx, kx.t()]).unsqueeze(1)
    g = F.conv2d(x, k, padding=1)
    return torch.sqrt(g.pow(2).sum(1, keepdim=True) + 1e-8)
