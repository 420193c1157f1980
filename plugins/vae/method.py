"""The VAE recipe: GANji's ResNet VAE on glyphs (or the oil-painting MLP VAE), sample and reconstruct.

Bernoulli likelihood (BCE-with-logits, summed over pixels) or Gaussian (squared error over 2σ²,
summed), plus the KL term with an optional β and linear warm-up. Adam 1e-3 with a cosine decay.
Fixed from the sources: shuffled batches (the notebook iterated the dataset one image at a time) and
no flips (the GANji README promises them; its code removed them, rightly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from glyph import GlyphError, Method, Opt, RunContext
from glyph.generate import (
    FilterFlag,
    GridOut,
    SampleCount,
    SampleDir,
    WalkFrames,
    WalkKeys,
    sample_outputs,
    write_samples,
)

from .model import MLPDecoder, MLPEncoder, ResDecoder, ResEncoder

if TYPE_CHECKING:
    from PIL import Image


@dataclass
class Config:
    """VAE settings; the defaults are the glyph64 preset."""

    arch: Literal["resnet", "mlp"] = field(default="resnet", metadata={"help": "GANji ResNet VAE or the MLP VAE"})
    channels: int = field(default=1, metadata={"help": "1 for glyphs, 3 for colour"})
    resolution: int = field(default=64, metadata={"help": "image size"})
    widths: tuple[int, ...] = field(default=(64, 128, 256, 512), metadata={"help": "ResNet widths per stage"})
    hidden: int = field(default=400, metadata={"help": "MLP hidden units"})
    latent: int = field(default=128, metadata={"help": "latent size"})
    likelihood: Literal["bernoulli", "gaussian"] = field(default="bernoulli", metadata={"help": "pixel model"})
    sigma: float = field(default=0.1, metadata={"help": "Gaussian likelihood's standard deviation"})
    beta: float = field(default=1.0, metadata={"help": "weight of the KL term"})
    kl_warmup: int = field(default=0, metadata={"help": "steps over which β rises linearly from 0"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate (cosine decay)"})
    steps: int = field(default=20000, metadata={"help": "training steps"})
    batch: int = field(default=128, metadata={"help": "batch size"})

    def validate(self) -> None:
        """Reject shapes the networks cannot make."""
        if self.channels not in (1, 3):
            raise GlyphError(f"vae channels must be 1 or 3, got {self.channels}")
        if self.arch == "resnet" and (self.resolution % 2 ** len(self.widths) or not self.widths):
            raise GlyphError(f"vae resolution {self.resolution} must be divisible by 2^{len(self.widths)} "
                             f"(one halving per width)")


class VAE(Method):
    """Variational autoencoder: sample new glyphs and reconstruct given ones."""

    name = "vae"
    Config = Config
    parts = ("encoder", "decoder")
    inference_parts = ("decoder",)  # sampling needs the decoder only; shipped weights hold just that
    inputs: ClassVar[dict[str, str]] = {"reconstruct": "images to encode and decode (folder or packed file)"}

    def build(self) -> dict[str, torch.nn.Module]:
        c = self.config
        if c.arch == "mlp":
            enc, dec = (MLPEncoder(c.channels, c.hidden, c.latent, c.resolution),
                        MLPDecoder(c.channels, c.hidden, c.latent, c.resolution))
        else:
            enc, dec = (ResEncoder(c.channels, tuple(c.widths), c.latent, c.resolution),
                        ResDecoder(c.channels, tuple(c.widths), c.latent, c.resolution))
        self.nets = {"encoder": enc, "decoder": dec}
        return self.nets

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        params = [p for n in self.nets.values() for p in n.parameters()]
        opt = torch.optim.Adam(params, lr=self.config.lr)
        from glyph.trainer import warmup_cosine

        self.schedulers = {"lr": warmup_cosine(opt, max(1, self.config.steps))}
        return {"vae": opt}

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        c = self.config
        if images.shape[1] != c.channels:
            raise GlyphError(f"this vae works on {c.channels}-channel images, got {images.shape[1]}; "
                             f"use --preset or --set channels={images.shape[1]} when training")
        x = images.float().div(255)  # [0, 1], 1 = ink for glyphs: the Bernoulli targets
        if x.shape[-1] != c.resolution:
            x = F.interpolate(x, size=(c.resolution, c.resolution), mode="bilinear", antialias=True).clamp(0, 1)
        return x

    def make_batch(self, data: Any, index: torch.Tensor, phase: Any) -> dict[str, torch.Tensor]:
        return {"image": self._prepare(data.images[index])}

    def train_step(self, batch: Any, step: int, trainer: Any) -> dict[str, float]:
        c = self.config
        x = batch["image"]
        with trainer.autocast():
            mu, logvar = self.nets["encoder"](x)
        mu, logvar = mu.float(), logvar.float()
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        with trainer.autocast():
            logits = self.nets["decoder"](z)
        logits = logits.float()
        n = len(x)
        if c.likelihood == "bernoulli":
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
        else:
            rec = (torch.sigmoid(logits) - x).pow(2).sum() / (2 * c.sigma**2) / n
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / n
        beta = c.beta * (min(1.0, step / c.kl_warmup) if c.kl_warmup else 1.0)
        loss = rec + beta * kl
        trainer.backward(loss)
        trainer.step("vae")
        self.schedulers["lr"].step()
        return {"loss": loss.detach(), "rec": rec.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from latents."""
        dec = self.nets["decoder"]
        dev = next(dec.parameters()).device
        return torch.cat([torch.sigmoid(dec(z[i:i + 256].to(dev)).float()) for i in range(0, len(z), 256)]).cpu()

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Encode uint8 images to their latent means and decode them: images in [0, 1]."""
        if "encoder" not in self.nets:
            raise GlyphError("these vae weights hold the decoder only (as the shipped ones do), so they can sample "
                             "but not reconstruct; train a vae (glyph train vae --data ...) and pass --weights RUN")
        enc = self.nets["encoder"]
        dev = next(enc.parameters()).device
        x = self._prepare(images)
        mus = torch.cat([enc(x[i:i + 256].to(dev))[0].float() for i in range(0, len(x), 256)])
        return self.decode(mus)

    def preview(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode(torch.randn(n, self.config.latent, generator=generator))

    def sample(self, n: int = 16, *, seed: int | None = None) -> list[Image.Image]:
        """``n`` new glyphs decoded from seeded latents: what ``glyph --seed S run vae --n N`` writes."""
        from glyph.api import check_count, pil_images, seeded
        from glyph.generate import draws_glyphs

        check_count(n)
        return pil_images(self.decode(torch.randn(n, self.config.latent, generator=seeded(seed))), draws_glyphs(self))

    def run(
        self,
        ctx: RunContext,
        *,
        n: SampleCount = 64,
        out: GridOut = None,
        out_dir: SampleDir = None,
        reconstruct: Annotated[str | None, Opt("reconstruct these images (folder, packed file, embedded)")] = None,
        interpolate: WalkKeys = 0,
        frames: WalkFrames = 16,
        filter: FilterFlag = False,
    ) -> None:
        """Sample, reconstruct or walk the latent space."""
        glyphs = getattr(self, "data_info", {}).get("ink", "glyph") == "glyph"
        if reconstruct and not interpolate:
            self._reconstruct_to(ctx, reconstruct, n, out, out_dir, glyphs, filter)
            return
        sample_outputs(ctx, self.decode, self.config.latent, n=n, out=out, out_dir=out_dir, interpolate=interpolate,
                       frames=frames, filter=filter, glyphs=glyphs)

    def _reconstruct_to(self, ctx: RunContext, source: str, n: int, out: Path | None, out_dir: Path | None,
                        glyphs: bool, filter: bool) -> None:
        """Encode and decode the first ``n`` images of ``source``: pairs to ``out``, reconstructions to ``out_dir``."""
        from glyph.data.sources import open_dataset
        if out is None and out_dir is None:
            raise GlyphError("say where to write: --out pairs.png and/or --out-dir DIR")
        data = open_dataset(source, size=self.config.resolution)
        originals = data.images[:n]
        rec = self.reconstruct(originals)
        src = self._prepare(originals)
        if out is not None:  # originals and reconstructions interleaved: pairs side by side
            pairs = torch.stack([src, rec], 1).flatten(0, 1)
            write_samples(ctx, pairs, out, None, glyphs, 0.8 if filter else None)
        if out_dir is not None:
            write_samples(ctx, rec, None, out_dir, glyphs, 0.8 if filter else None)
        ctx.note(f"reconstructed {len(rec)} images; mean absolute error {float((rec - src).abs().mean()):.4f}")
