"""The noise schedule and the samplers, apart from the network (which only maps (x_t, t) to a prediction).

- :class:`NoiseSchedule`: linear betas (1e-4 to 0.02) or the cosine schedule of Nichol & Dhariwal (s = 0.008,
  betas clipped at 0.999); the forward process q(x_t | x_0); conversions between the network's target
  (noise ``eps`` or velocity ``v``) and the clean image.
- :func:`ancestral`: the DDPM sampler, T steps, sigma_t^2 = beta_t (GANji's).
- :func:`ddim`: DDIM (Song et al. 2021) on an evenly spaced subset of timesteps; eta = 0 is deterministic,
  eta = 1 matches the ancestral sampler's noise level.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class NoiseSchedule:
    """Betas and their cumulative products for ``T`` steps."""

    kind: str = "linear"
    T: int = 1000
    prediction: str = "eps"

    def __post_init__(self) -> None:
        if self.kind == "linear":
            betas = torch.linspace(1e-4, 0.02, self.T, dtype=torch.float64)
        elif self.kind == "cosine":
            s = 0.008
            steps = torch.arange(self.T + 1, dtype=torch.float64) / self.T
            f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
            betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        else:
            raise ValueError(f"unknown noise schedule {self.kind!r}: use linear or cosine")
        if self.prediction not in ("eps", "v"):
            raise ValueError(f"unknown prediction {self.prediction!r}: use eps or v")
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1 - betas, 0)

    def _ab(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return self.alphas_cumprod.to(like.device)[t].to(like.dtype).view(-1, *([1] * (like.ndim - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps."""
        ab = self._ab(t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def target(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the network learns to predict: the noise, or v = sqrt(ab) eps - sqrt(1 - ab) x_0."""
        if self.prediction == "eps":
            return noise
        ab = self._ab(t, x0)
        return ab.sqrt() * noise - (1 - ab).sqrt() * x0

    def split(self, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(predicted x_0, predicted eps) from the network output at ``x_t``."""
        ab = self._ab(t, x_t)
        if self.prediction == "eps":
            eps = out
            x0 = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
        else:
            x0 = ab.sqrt() * x_t - (1 - ab).sqrt() * out
            eps = (1 - ab).sqrt() * x_t + ab.sqrt() * out
        return x0, eps


def _t(i: int, n: int, device: torch.device) -> torch.Tensor:
    return torch.full((n,), i, dtype=torch.long, device=device)


@torch.no_grad()
def ancestral(model: Model, sched: NoiseSchedule, x: torch.Tensor, generator: torch.Generator | None = None,
              clip: bool = True, progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """DDPM sampling through all T steps from noise ``x``: x_{t-1} = mean(x_t, eps) + sqrt(beta_t) z.

    ``progress(done, total)`` is called after each step.
    """
    for i in reversed(range(sched.T)):
        t = _t(i, len(x), x.device)
        x0, eps = sched.split(model(x, t).float(), x, t)
        if clip:
            x0 = x0.clamp(-1, 1)
            ab = sched._ab(t, x)
            eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
        beta = float(sched.betas[i])
        ab = float(sched.alphas_cumprod[i])
        mean = (x - beta / math.sqrt(1 - ab) * eps) / math.sqrt(1 - beta)
        if i > 0:
            noise = torch.randn(x.shape, generator=generator, device="cpu").to(x.device)
            x = mean + math.sqrt(beta) * noise
        else:
            x = mean
        if progress is not None:
            progress(sched.T - i, sched.T)
    return x


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """``steps`` timesteps evenly spaced over [0, T - 1], from the noisiest down."""
    if not 1 <= steps <= T:
        raise ValueError(f"sampler steps must be in 1..{T}, got {steps}")
    return sorted({round(v) for v in torch.linspace(0, T - 1, steps).tolist()}, reverse=True)


@torch.no_grad()
def ddim(model: Model, sched: NoiseSchedule, x: torch.Tensor, steps: int = 50, eta: float = 0.0,
         generator: torch.Generator | None = None, clip: bool = True,
         progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """DDIM sampling from noise ``x`` in ``steps`` steps; deterministic at ``eta = 0``; ``progress(done, total)``
    is called after each step."""
    ts = ddim_timesteps(sched.T, steps)
    for j, i in enumerate(ts):
        t = _t(i, len(x), x.device)
        x0, eps = sched.split(model(x, t).float(), x, t)
        ab = float(sched.alphas_cumprod[i])
        if clip:
            x0 = x0.clamp(-1, 1)
            eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
        ab_prev = float(sched.alphas_cumprod[ts[j + 1]]) if j + 1 < len(ts) else 1.0
        sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        x = math.sqrt(ab_prev) * x0 + math.sqrt(max(0.0, 1 - ab_prev - sigma**2)) * eps
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, generator=generator, device="cpu").to(x.device)
        if progress is not None:
            progress(j + 1, len(ts))
    return x
