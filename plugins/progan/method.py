"""The progressive GAN recipe of the calligraphy project: growth 4 -> 64 px, fade-in, R1, DiffAugment, EMA.

seeds-code-report.md §1. The schedule is counted in images shown per stage, not epochs, so it means the
same on any dataset size; ``phase(step)`` derives the stage, resolution, fade-in alpha, batch and R1 gamma
from the step alone, so a run resumes mid-stage and mid-fade exactly. Losses: non-saturating logistic;
R1 (gamma / 2 * E||grad D||^2) in fp32 on the un-augmented reals, differentiated through the augmentation
(the published code took it w.r.t. the augmented batch, and under fp16); DiffAugment before every D call.
Adam 1e-3, betas (0, 0.99). The EMA generator starts as a copy of the generator (the published one started
from its own random init). One channel natively (the published code trained on RGB copies of grey images).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from glyph import GlyphError, Method
from glyph.generate import LatentRun

from .model import Discriminator, Generator, r1_penalty

# The published schedule: epochs (60, 120, 120, 180, 240) of the 6,763-image set, in images shown.
PUBLISHED_IMAGES = tuple(e * 6763 for e in (60, 120, 120, 180, 240))


@dataclass
class Config:
    """progan settings; the defaults are the published calligraphy64 schedule (GPU scale)."""

    channels: int = field(default=1, metadata={"help": "1 for glyphs, 3 for colour"})
    z_dim: int = field(default=512, metadata={"help": "latent size"})
    widths: tuple[int, ...] = field(default=(512, 512, 512, 512, 256),
                                    metadata={"help": "widths at 4, 8, 16, 32, 64 px (one per stage)"})
    stage_images: tuple[int, ...] = field(default=PUBLISHED_IMAGES, metadata={"help": "images shown per stage"})
    batches: tuple[int, ...] = field(default=(16, 16, 16, 16, 16), metadata={"help": "batch size per stage"})
    gammas: tuple[float, ...] = field(default=(10.0, 10.0, 10.0, 20.0, 80.0), metadata={"help": "R1 gamma per stage"})
    fade: float = field(default=0.5, metadata={"help": "share of a stage over which the new layer fades in"})
    r1_every: int = field(default=1, metadata={"help": "R1 every N steps, weighted N times (lazy; 1 = published)"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate (both networks)"})
    betas: tuple[float, ...] = field(default=(0.0, 0.99), metadata={"help": "Adam betas"})
    diffaugment: str = field(default="color,translation,cutout", metadata={"help": "DiffAugment policy ('' = off)"})
    ema_decay: float = field(default=0.999, metadata={"help": "generator EMA decay"})
    steps: int = field(default=0, metadata={"help": "stop after this many steps (0: the whole schedule)"})
    batch: int = field(default=16, metadata={"help": "unused: batches are per stage"})

    def validate(self) -> None:
        """The per-stage lists must agree, and fades must fit in a stage."""
        n = len(self.widths)
        for name in ("stage_images", "batches", "gammas"):
            if len(getattr(self, name)) != n:
                raise GlyphError(f"progan {name} needs one value per stage ({n}, like widths), got "
                                 f"{len(getattr(self, name))}")
        if self.channels not in (1, 3):
            raise GlyphError(f"progan channels must be 1 or 3, got {self.channels}")
        if not 0 < self.fade <= 1:
            raise GlyphError(f"progan fade must be in (0, 1], got {self.fade}")
        if self.r1_every < 1:
            raise GlyphError(f"progan r1_every must be at least 1, got {self.r1_every}")
        if min(self.stage_images) < 1 or min(self.batches) < 1:
            raise GlyphError("progan stage_images and batches must be positive")
        if not self.widths or min(self.widths) < 1 or self.z_dim < 1:
            raise GlyphError(f"progan z_dim and widths must be positive, got z_dim={self.z_dim}, "
                             f"widths={','.join(map(str, self.widths))}")
        from glyph.data.augment import check_policy

        check_policy(self.diffaugment)

    @property
    def resolution(self) -> int:
        """The final resolution."""
        return 4 * 2 ** (len(self.widths) - 1)


@dataclass(frozen=True)
class Schedule:
    """Stage boundaries in steps, from images per stage and batch sizes."""

    stage_images: tuple[int, ...]
    batches: tuple[int, ...]
    fade: float

    @property
    def stage_steps(self) -> list[int]:
        """Optimisation steps of each stage: ceil(images / batch)."""
        return [math.ceil(i / b) for i, b in zip(self.stage_images, self.batches, strict=True)]

    @property
    def total(self) -> int:
        """Steps of the whole schedule."""
        return sum(self.stage_steps)

    def at(self, step: int) -> tuple[int, float]:
        """(stage, alpha) of ``step``: alpha grows linearly by batch / (fade * images) per step from the stage's
        first step and stays 1 after the fade; the first stage has nothing to fade from (alpha 1)."""
        start = 0
        for stage, n in enumerate(self.stage_steps):
            if step < start + n or stage == len(self.stage_steps) - 1:
                if stage == 0:
                    return 0, 1.0
                shown = (step - start + 1) * self.batches[stage]
                return stage, min(1.0, shown / (self.fade * self.stage_images[stage]))
            start += n
        raise AssertionError("unreachable")


class ProGAN(LatentRun, Method):
    """Progressive GAN with R1 and DiffAugment: one calligrapher's style, 4 -> 64 px."""

    name = "progan"
    Config = Config
    parts = ("G", "D")
    ema_parts = ("G",)
    inference_parts = ("G",)
    inputs: ClassVar[dict[str, str]] = {"z": "Gaussian latents (the seed chooses them)"}

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.config.validate()
        if not self.config.steps:
            self.config.steps = self.schedule.total
        self._now: tuple[int, float] | None = None

    @property
    def schedule(self) -> Schedule:
        """The step schedule of this config."""
        c = self.config
        return Schedule(tuple(c.stage_images), tuple(c.batches), c.fade)

    def build(self) -> dict[str, torch.nn.Module]:
        c = self.config
        self.nets = {"G": Generator(c.z_dim, tuple(c.widths), c.channels), "D": Discriminator(tuple(c.widths),
                                                                                             c.channels)}
        return self.nets

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        betas = (float(c.betas[0]), float(c.betas[1]))
        return {k: torch.optim.Adam(n.parameters(), lr=c.lr, betas=betas) for k, n in self.nets.items()}

    def phase(self, step: int) -> dict[str, Any]:
        stage, alpha = self.schedule.at(step)
        c = self.config
        return {"stage": stage, "alpha": alpha, "resolution": 4 * 2 ** stage, "batch": int(c.batches[stage]),
                "gamma": float(c.gammas[stage])}

    def make_batch(self, data: Any, index: torch.Tensor, phase: Any) -> dict[str, Any]:
        from glyph.data.loader import signed_batch

        c = self.config
        x = signed_batch(data, index, c.channels, c.resolution, "progan")
        res = int(phase["resolution"])
        if res < c.resolution:
            x = F.avg_pool2d(x, c.resolution // res)  # area downsampling: each stage sees the same glyphs, smaller
        self._now = (int(phase["stage"]), float(phase["alpha"]))
        return {"image": x, "stage": phase["stage"], "alpha": phase["alpha"], "gamma": phase["gamma"]}

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.diffaugment:
            return x
        from glyph.data.augment import diff_augment

        return diff_augment(x, self.config.diffaugment, fill=-1.0)  # exposed areas are paper, not mid-grey

    def train_step(self, batch: Any, step: int, trainer: Any) -> dict[str, float]:
        real, stage, alpha, gamma = batch["image"], int(batch["stage"]), float(batch["alpha"]), float(batch["gamma"])
        g, d = self.nets["G"], self.nets["D"]
        z = torch.randn(len(real), self.config.z_dim, device=real.device)
        with trainer.autocast():
            fake = g(z, stage, alpha)
        every = self.config.r1_every
        if step % every == 0:  # lazy regularisation (StyleGAN2): every N steps, N times the weight
            real_logits, r1 = r1_penalty(d, real, self._augment, stage, alpha)
        else:
            with trainer.autocast():
                real_logits = d(self._augment(real), stage, alpha).float()
            r1 = torch.zeros((), device=real.device)
        with trainer.autocast():
            fake_logits = d(self._augment(fake.detach()), stage, alpha)
        loss_d = (F.softplus(-real_logits).mean() + F.softplus(fake_logits.float()).mean()
                  + 0.5 * gamma * every * r1)
        trainer.backward(loss_d)
        trainer.step("D")
        with trainer.autocast():
            loss_g = F.softplus(-d(self._augment(fake), stage, alpha).float()).mean()
        trainer.backward(loss_g)
        trainer.step("G")
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "r1": r1.detach(), "stage": float(stage),
                "alpha": alpha}

    def _inference_phase(self) -> tuple[int, float]:
        """The stage being trained, or where the run's schedule ends (a finished or --steps-limited run)."""
        if self._now is not None:
            return self._now
        stage, alpha = self.schedule.at(max(0, int(self.config.steps) - 1))
        return stage, alpha

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (1 = ink for glyphs) from latents ``z``, at the generator's current stage."""
        g = self.nets["G"]
        dev = next(g.parameters()).device
        stage, alpha = self._inference_phase()
        out = torch.cat([g(z[i:i + 256].to(dev), stage, alpha).float() for i in range(0, len(z), 256)])
        return out.add(1).div(2).clamp(0, 1).cpu()  # the generator is linear: clamp only when showing

    def preview(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.generate(torch.randn(n, self.config.z_dim, generator=generator))
