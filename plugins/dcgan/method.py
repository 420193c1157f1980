"""The DCGAN recipe: unconditional glyphs (or colour paintings), EMA generator, optional DiffAugment.

From GANji and the portrait oil-painting project (seeds-code-report §2.3, §4.2), with their bugs
fixed: data in [-1, 1] to match the tanh generator (the notebook fed [0, 1]), BCE on logits (not
sigmoid + BCELoss), shuffled batches of 64 (not unshuffled, not batch 1), no flips (glyphs are not
symmetric), DCGAN's N(0, 0.02) initialisation. Adam 2e-4, betas (0.5, 0.999), as the paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from glyph import GlyphError, Method
from glyph.generate import LatentRun

from .model import Discriminator, Generator, init_weights, resolution


@dataclass
class Config:
    """DCGAN settings; the defaults are the glyph64 preset (64 px glyphs, one channel)."""

    channels: int = field(default=1, metadata={"help": "1 for glyphs, 3 for colour"})
    z_dim: int = field(default=100, metadata={"help": "latent size"})
    g_widths: tuple[int, ...] = field(default=(512, 256, 128, 64), metadata={"help": "generator widths, 4 px up"})
    final_stride: int = field(default=2, metadata={"help": "last layer's stride: 2 (powers of two) or 3 (96 px)"})
    lr: float = field(default=2e-4, metadata={"help": "Adam learning rate (both networks)"})
    beta1: float = field(default=0.5, metadata={"help": "Adam beta1"})
    beta2: float = field(default=0.999, metadata={"help": "Adam beta2"})
    diffaugment: str = field(default="translation,cutout", metadata={"help": "DiffAugment policy ('' = off)"})
    ema_decay: float = field(default=0.999, metadata={"help": "generator EMA decay"})
    steps: int = field(default=20000, metadata={"help": "training steps"})
    batch: int = field(default=64, metadata={"help": "batch size"})

    def validate(self) -> None:
        """Reject impossible shapes."""
        if self.channels not in (1, 3):
            raise GlyphError(f"dcgan channels must be 1 or 3, got {self.channels}")
        if self.final_stride not in (2, 3):
            raise GlyphError(f"dcgan final_stride must be 2 or 3, got {self.final_stride}")
        if not self.g_widths:
            raise GlyphError("dcgan g_widths needs at least one width")
        if min(self.g_widths) < 1 or self.z_dim < 1:
            raise GlyphError(f"dcgan z_dim and g_widths must be positive, got z_dim={self.z_dim}, "
                             f"g_widths={','.join(map(str, self.g_widths))}")
        from glyph.data.augment import check_policy

        check_policy(self.diffaugment)

    @property
    def resolution(self) -> int:
        """Image size the networks make and read."""
        return resolution(self.g_widths, self.final_stride)


class DCGAN(LatentRun, Method):
    """DCGAN: unconditional glyphs or colour paintings."""

    name = "dcgan"
    Config = Config
    parts = ("G", "D")
    ema_parts = ("G",)
    inference_parts = ("G",)  # shipped weights hold the generator only
    inputs: ClassVar[dict[str, str]] = {"z": "Gaussian latents (the seed chooses them)"}

    def build(self) -> dict[str, torch.nn.Module]:
        c = self.config
        g = Generator(c.z_dim, tuple(c.g_widths), c.channels, c.final_stride)
        d = Discriminator(tuple(c.g_widths), c.channels, c.final_stride)
        init_weights(g)
        init_weights(d)
        self.nets = {"G": g, "D": d}
        return self.nets

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        return {k: torch.optim.Adam(n.parameters(), lr=c.lr, betas=(c.beta1, c.beta2)) for k, n in self.nets.items()}

    def make_batch(self, data: Any, index: torch.Tensor, phase: Any) -> dict[str, torch.Tensor]:
        from glyph.data.loader import signed_batch

        c = self.config
        return {"image": signed_batch(data, index, c.channels, c.resolution, "dcgan",
                                      "use --preset painting96 for colour or")}

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.diffaugment:
            return x
        from glyph.data.augment import diff_augment

        return diff_augment(x, self.config.diffaugment, fill=-1.0)  # exposed areas are paper

    def train_step(self, batch: Any, step: int, trainer: Any) -> dict[str, float]:
        real = batch["image"]
        g, d = self.nets["G"], self.nets["D"]
        z = torch.randn(len(real), self.config.z_dim, device=real.device)
        with trainer.autocast():
            fake = g(z)
            loss_d = F.softplus(-d(self._augment(real))).mean() + F.softplus(d(self._augment(fake.detach()))).mean()
        trainer.backward(loss_d)
        trainer.step("D")
        with trainer.autocast():
            loss_g = F.softplus(-d(self._augment(fake))).mean()
        trainer.backward(loss_g)
        trainer.step("G")
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (1 = ink for glyphs) from latents ``z``."""
        g = self.nets["G"]
        dev = next(g.parameters()).device
        out = torch.cat([g(z[i:i + 256].to(dev)).float() for i in range(0, len(z), 256)])
        return out.add(1).div(2).clamp(0, 1).cpu()

    def preview(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.generate(torch.randn(n, self.config.z_dim, generator=generator))
