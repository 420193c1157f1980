"""The DDPM recipe from GANji (seeds-code-report §2.4), with a fast DDIM sampler and an EMA network.

Training: t ~ U{0..T-1}, x_t from the forward process, MSE between the network's output and its target
(the noise, or v), Adam with a cosine learning-rate decay (GANji's author found the decay essential).
Sampling: DDIM in 50 steps by default (deterministic at eta = 0), or all T ancestral steps; outputs are
clamped to [-1, 1] before they become pixels (GANji's first samples wrapped around in uint8 without it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from glyph import GlyphError, Method, Opt, RunContext
from glyph.generate import FilterFlag, GridOut, SampleCount, SampleDir, draws_glyphs, sample_outputs

from .diffusion import NoiseSchedule, ancestral, ddim, ddim_timesteps
from .model import UNet

if TYPE_CHECKING:
    from PIL import Image


@dataclass
class Config:
    """ddpm settings; the defaults are GANji's UNet and schedule."""

    channels: int = field(default=1, metadata={"help": "1 for glyphs, 3 for colour"})
    resolution: int = field(default=64, metadata={"help": "image size (divisible by 8)"})
    widths: tuple[int, ...] = field(default=(64, 128, 256, 256), metadata={"help": "UNet widths at 64, 32, 16, 8 px"})
    bottleneck: int = field(default=512, metadata={"help": "bottleneck width"})
    attention: tuple[int, ...] = field(default=(), metadata={"help": "resolutions with self-attention, e.g. 16"})
    schedule: Literal["linear", "cosine"] = field(default="linear", metadata={"help": "noise schedule"})
    timesteps: int = field(default=1000, metadata={"help": "diffusion steps T"})
    prediction: Literal["eps", "v"] = field(default="eps", metadata={"help": "network target: noise or velocity"})
    lr: float = field(default=5e-5, metadata={"help": "Adam learning rate (cosine decay to 0)"})
    sampler: Literal["ddim", "ancestral"] = field(default="ddim", metadata={"help": "default sampler"})
    sample_steps: int = field(default=50, metadata={"help": "DDIM steps"})
    eta: float = field(default=0.0, metadata={"help": "DDIM noise (0: deterministic)"})
    ema_decay: float = field(default=0.999, metadata={"help": "EMA decay of the network"})
    steps: int = field(default=32300, metadata={"help": "training steps (GANji: 100 epochs of batch 32)"})
    batch: int = field(default=32, metadata={"help": "batch size"})

    def validate(self) -> None:
        """Shapes the UNet can make."""
        if len(self.widths) != 4:
            raise GlyphError(f"ddpm widths needs 4 values (64, 32, 16, 8 px), got {len(self.widths)}")
        if self.resolution % 8:
            raise GlyphError(f"ddpm resolution must be divisible by 8, got {self.resolution}")
        if self.channels not in (1, 3):
            raise GlyphError(f"ddpm channels must be 1 or 3, got {self.channels}")
        if self.timesteps < 2:
            raise GlyphError(f"ddpm timesteps must be at least 2, got {self.timesteps}")


class DDPM(Method):
    """Denoising diffusion: glyphs from noise, with DDIM for a fast sampler."""

    name = "ddpm"
    Config = Config
    parts = ("unet",)
    ema_parts = ("unet",)
    inputs: ClassVar[dict[str, str]] = {"noise": "Gaussian noise images (the seed chooses them)"}

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.config.validate()
        c = self.config
        try:
            self.sched = NoiseSchedule(c.schedule, c.timesteps, c.prediction)
        except ValueError as e:
            raise GlyphError(str(e)) from None

    def build(self) -> dict[str, torch.nn.Module]:
        c = self.config
        self.nets = {"unet": UNet(c.channels, tuple(c.widths), c.bottleneck, attention=tuple(c.attention),  # type: ignore[arg-type]
                                  resolution=c.resolution)}
        return self.nets

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opt = torch.optim.Adam(self.nets["unet"].parameters(), lr=self.config.lr)
        from glyph.trainer import warmup_cosine

        self.schedulers = {"lr": warmup_cosine(opt, max(1, self.config.steps))}
        return {"unet": opt}

    def make_batch(self, data: Any, index: torch.Tensor, phase: Any) -> dict[str, torch.Tensor]:
        from glyph.data.loader import signed_batch

        c = self.config
        return {"image": signed_batch(data, index, c.channels, c.resolution, "ddpm")}

    def train_step(self, batch: Any, step: int, trainer: Any) -> dict[str, float]:
        x0 = batch["image"]
        t = torch.randint(0, self.sched.T, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        x_t = self.sched.q_sample(x0, t, noise)
        with trainer.autocast():
            out = self.nets["unet"](x_t, t)
        loss = F.mse_loss(out.float(), self.sched.target(x0, t, noise))
        trainer.backward(loss)
        trainer.step("unet")
        self.schedulers["lr"].step()
        return {"loss": loss.detach()}

    @torch.no_grad()
    def denoise(self, noise: torch.Tensor, sampler: str | None = None, steps: int | None = None,
               eta: float | None = None, generator: torch.Generator | None = None, batch: int = 64,
               precision: str = "fp32", progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Images in [0, 1] (1 = ink for glyphs) from starting noise ``[N, C, H, W]``.

        ``precision`` (:data:`glyph.device.PRECISIONS`) other than fp32 runs the network under autocast (the
        sampler's state and arithmetic stay fp32).
        ``progress(done, total)`` counts network evaluations over all batches.
        """
        c = self.config
        sampler = sampler or c.sampler
        from glyph.device import autocast_dtype, resolve_precision

        net = self.nets["unet"].eval()
        dev = next(net.parameters()).device
        half = autocast_dtype(resolve_precision(precision, dev))
        out = []
        per = self.sched.T if sampler == "ancestral" else len(ddim_timesteps(self.sched.T, steps or c.sample_steps))
        total = per * -(-len(noise) // batch)
        for k, i in enumerate(range(0, len(noise), batch)):
            x = noise[i:i + batch].to(dev)
            tick = None if progress is None else (lambda done, _, k=k: progress(k * per + done, total))
            with torch.autocast(dev.type, dtype=half or torch.float32, enabled=half is not None):
                if sampler == "ancestral":
                    x = ancestral(net, self.sched, x, generator, progress=tick)
                else:
                    x = ddim(net, self.sched, x, steps or c.sample_steps, c.eta if eta is None else eta, generator,
                             progress=tick)
            out.append(x.float().clamp(-1, 1).add(1).div(2).cpu())
        return torch.cat(out)

    def _noise(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        c = self.config
        return torch.randn(n, c.channels, c.resolution, c.resolution, generator=generator)

    def sample(self, n: int = 16, *, seed: int | None = None, steps: int = 50, sampler: str = "ddim",
               eta: float = 0.0) -> list[Image.Image]:
        """``n`` new glyphs denoised from seeded noise: what ``glyph --seed S run ddpm --n N`` writes, in the
        precision :func:`glyph.load` chose (bf16 where native)."""
        from glyph.api import check_count, pil_images, seeded

        check_count(n)
        self._check_sampling(steps, sampler, eta)
        noise = self._noise(n, seeded(seed))
        return pil_images(self.denoise(noise, sampler, steps, eta, seeded(seed), precision=self.precision),
                          draws_glyphs(self))

    def _check_sampling(self, steps: int, sampler: str, eta: float) -> None:
        if sampler not in ("ddim", "ancestral"):
            raise GlyphError(f"--sampler {sampler!r}: use ddim or ancestral")
        if sampler == "ddim" and not 1 <= steps <= self.sched.T:
            raise GlyphError(f"--steps must be between 1 and {self.sched.T} (the model's T), got {steps}")
        if not (math.isfinite(eta) and eta >= 0):  # NaN passes a plain "eta < 0" test and makes NaN images
            raise GlyphError(f"--eta must be a finite number >= 0, got {eta}")

    def preview(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.denoise(self._noise(n, generator), "ddim", min(25, self.sched.T), 0.0)

    def run(
        self,
        ctx: RunContext,
        *,
        n: SampleCount = 64,
        out: GridOut = None,
        out_dir: SampleDir = None,
        steps: Annotated[int, Opt("sampler steps (DDIM; the ancestral sampler always takes all T)")] = 50,
        sampler: Annotated[str, Opt("ddim (fast) or ancestral (T steps)")] = "ddim",
        eta: Annotated[float, Opt("DDIM noise: 0 deterministic, 1 like ancestral")] = 0.0,
        interpolate: Annotated[int, Opt("walk through K noise images with deterministic DDIM, GIF to --out")] = 0,
        frames: Annotated[int, Opt("frames between two key points of --interpolate")] = 16,
        filter: FilterFlag = False,
    ) -> None:
        """Sample glyphs by denoising Gaussian noise, the network in the global ``--precision``."""
        c = self.config
        precision = self.precision
        self._check_sampling(steps, sampler, eta)
        if interpolate and (sampler != "ddim" or eta != 0):
            raise GlyphError("--interpolate needs the deterministic sampler: --sampler ddim --eta 0")
        g = torch.Generator().manual_seed(ctx.seed if ctx.seed is not None else 0)
        shape = (c.channels, c.resolution, c.resolution)

        def from_latent(z: torch.Tensor) -> torch.Tensor:
            return self.denoise(z.view(-1, *shape), sampler, steps, eta, g, precision=precision,
                                progress=lambda done, total: ctx.advance("denoising", done, total))

        sample_outputs(ctx, from_latent, math.prod(shape), n=n, out=out, out_dir=out_dir, interpolate=interpolate,
                       frames=frames, filter=filter, glyphs=draws_glyphs(self))
        ctx.report.numbers["sampler steps"] = float(steps if sampler == "ddim" else self.sched.T)
