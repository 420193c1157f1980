"""Shared output helpers of the generative methods: sample grids, one file per sample, latent walks as GIFs.

Images arrive as floats in [0, 1] in glyph's convention (for glyphs 1 = ink) and are written as people
see them (glyphs dark on white).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import torch

from .errors import GlyphError
from .grid import tile
from .imageio import atomic_output
from .method import Opt, RunContext

if TYPE_CHECKING:
    from PIL import Image


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between Gaussian latents (keeps their norm, unlike a straight line)."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


# A walk's frames are all held in memory as one GIF; a typo such as --frames 2000000000 must not hang.
MAX_WALK_FRAMES = 10_000
# Samples of one run: far above any grid, and still a bounded amount of memory per image.
MAX_SAMPLES = 100_000


def walk(keys: int, frames: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Latents of a closed walk through ``keys`` random points, ``frames`` steps apart: ``[keys*frames, dim]``."""
    if keys < 2 or frames < 1:
        raise GlyphError(f"--interpolate needs at least 2 key points and --frames at least 1 (got {keys}, {frames})")
    if keys * frames > MAX_WALK_FRAMES:
        raise GlyphError(f"--interpolate {keys} x --frames {frames} is {keys * frames:,} frames; a walk may have at "
                         f"most {MAX_WALK_FRAMES:,}")
    points = torch.randn(keys, dim, generator=generator)
    out = [slerp(points[i], points[(i + 1) % keys], f / frames) for i in range(keys) for f in range(frames)]
    return torch.stack(out)


def to_display(images: torch.Tensor, glyphs: bool = True) -> np.ndarray:
    """[N, C, H, W] in [0, 1] -> [N, H, W(, C)] floats as shown (glyphs dark on white)."""
    a = images.detach().float().clamp(0, 1).cpu().permute(0, 2, 3, 1).numpy()
    if glyphs:
        a = 1.0 - a
    return a[..., 0] if a.shape[-1] == 1 else a


def save_gif(path: Path, frames: np.ndarray, ms_per_frame: int = 80) -> Path:
    """Write display frames ``[F, H, W(, C)]`` as a looping GIF, atomically."""
    from PIL import Image

    from .imageio import to_pil

    if Path(path).suffix.lower() != ".gif":
        raise GlyphError(f"an interpolation is written as a GIF; give --out NAME.gif (got {path})")
    pics = [to_pil(f).convert("P", palette=Image.Palette.ADAPTIVE) if f.ndim == 3 else to_pil(f) for f in frames]
    with atomic_output(path) as tmp:
        pics[0].save(tmp, format="GIF", save_all=True, append_images=pics[1:], duration=ms_per_frame, loop=0)
    return Path(path)


def write_samples(ctx: RunContext, images: torch.Tensor, out: Path | None, out_dir: Path | None,
                  glyphs: bool = True, filter_threshold: float | None = None, first: int = 0) -> np.ndarray:
    """Write a grid to ``out`` and/or one PNG per sample into ``out_dir`` (numbered from ``first``); optionally
    through the filter. Returns the images as shown."""
    shown = to_display(images, glyphs)
    if filter_threshold is not None:
        from .paper import clean_paper

        shown = np.stack([clean_paper(s, filter_threshold, ink="dark" if glyphs else "auto") for s in shown])
    if out is not None:
        ctx.save_image(out, tile(shown))
    if out_dir is not None:
        for i, img in enumerate(shown, start=first):
            ctx.save_image(Path(out_dir) / f"{i:06d}.png", img)
    return shown


def sample_outputs(ctx: RunContext, sample: Any, z_dim: int | None, *, n: int, out: Path | None,
                   out_dir: Path | None, interpolate: int = 0, frames: int = 16, filter: bool = False,
                   glyphs: bool = True) -> None:
    """The common body of an unconditional method's ``run``: a grid, one PNG per sample, or a latent walk GIF.

    :param sample: ``sample(z)`` -> images in [0, 1] from latents ``[N, z_dim]`` (random ones when ``z_dim`` is
        None: then ``sample(n, generator)`` is called and ``--interpolate`` is refused).
    """
    if not 1 <= n <= MAX_SAMPLES:
        raise GlyphError(f"--n must be between 1 and {MAX_SAMPLES:,}, got {n}")
    g = torch.Generator().manual_seed(ctx.seed if ctx.seed is not None else 0)
    if interpolate:
        if z_dim is None:
            raise GlyphError("this method has no latent space to walk; leave out --interpolate")
        if out is None:
            raise GlyphError("--interpolate writes a GIF: give --out walk.gif")
        images = sample(walk(interpolate, frames, z_dim, g))
        ctx.report.written.append(save_gif(out, to_display(images, glyphs)))
        return
    if out is None and out_dir is None:
        raise GlyphError("say where to write: --out grid.png and/or --out-dir DIR")
    if z_dim is None:
        write_samples(ctx, sample(n, g), out, out_dir, glyphs, 0.8 if filter else None)
        return
    # Drawn and written a batch at a time: --n 100000 --out-dir holds one batch of images in memory, not all.
    z = torch.randn(n, z_dim, generator=g)
    grid = []
    for start in range(0, n, WRITE_BATCH):
        images = sample(z[start:start + WRITE_BATCH])
        shown = write_samples(ctx, images, None, out_dir, glyphs, 0.8 if filter else None, first=start)
        if out is not None:
            grid.append(shown)
        ctx.advance("sampling", min(start + WRITE_BATCH, n), n)
    if out is not None:
        ctx.save_image(out, tile(np.concatenate(grid)))


WRITE_BATCH = 256  # samples drawn and written at a time by ``sample_outputs``

# The sampling options every generative method's run shares, declared once (``n: SampleCount = 64``).
SampleCount = Annotated[int, Opt("how many samples")]
GridOut = Annotated[Path | None, Opt("grid image (.png), or the GIF of --interpolate", short="-o")]
SampleDir = Annotated[Path | None, Opt("folder for one PNG per sample")]
WalkKeys = Annotated[int, Opt("walk through K random latents and write a GIF to --out (0: off)")]
WalkFrames = Annotated[int, Opt("frames between two key latents of --interpolate")]
FilterFlag = Annotated[bool, Opt("pass outputs through the filter method (threshold 0.8)")]


class LatentRun:
    """Mixin giving an unconditional generator its ``glyph run`` verb (dcgan, progan): grid, PNGs, latent walk.

    The method provides ``generate(z)`` (latents ``[N, config.z_dim]`` -> images in [0, 1]).
    """

    def run(
        self,
        ctx: RunContext,
        *,
        n: SampleCount = 64,
        out: GridOut = None,
        out_dir: SampleDir = None,
        interpolate: WalkKeys = 0,
        frames: WalkFrames = 16,
        filter: FilterFlag = False,
    ) -> None:
        """Sample from the trained generator (EMA weights)."""
        sample_outputs(ctx, self.generate, self.config.z_dim, n=n, out=out, out_dir=out_dir,  # type: ignore[attr-defined]
                       interpolate=interpolate, frames=frames, filter=filter, glyphs=draws_glyphs(self))

    def sample(self, n: int = 16, *, seed: int | None = None) -> list[Image.Image]:
        """``n`` new glyphs from seeded latents: the images ``glyph --seed S run METHOD --n N`` writes (see
        :class:`glyph.api.Sampler` for the ink convention)."""
        from .api import check_count, pil_images, seeded

        check_count(n)
        z = torch.randn(n, self.config.z_dim, generator=seeded(seed))  # type: ignore[attr-defined]
        return pil_images(self.generate(z), draws_glyphs(self))  # type: ignore[attr-defined]


def draws_glyphs(method: Any) -> bool:
    """Whether a trained method's data were glyphs (1 = ink, shown dark on white) rather than colour pictures."""
    return getattr(method, "data_info", {}).get("ink", "glyph") == "glyph"
