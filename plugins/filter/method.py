"""The artefact filter of the calligraphy ProGAN project, generalised.

The published notebook (seeds-code-report §1.9) turns every channel value above 0.8 into pure
white, x' = x + (1 - x)[x > 0.8], to remove the faint grey blotches a generator leaves on the
paper. Here the rule is expressed in *paperness* (how far a value is from ink towards paper), so
it works for dark ink on light paper and for light ink on dark paper, per channel (as published)
or on luminance, with an optional soft knee below the threshold. Alpha is left untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar

import numpy as np

from glyph import GlyphError, Method, Opt, RunContext, resolve_input
from glyph.imageio import ImageReadError, list_images, read_image
from glyph.paper import Ink, Mode, clean_paper


@dataclass
class Config:
    """Filter settings; the defaults reproduce the published notebook on dark-ink images."""

    threshold: float = field(default=0.8, metadata={"help": "paperness above which a value becomes paper (0..1)"})
    ink: Ink = field(default="auto", metadata={"help": "ink colour: dark on light paper, light on dark, or auto"})
    mode: Mode = field(default="channel", metadata={"help": "decide per channel (published) or on luminance"})
    knee: float = field(default=0.0, metadata={"help": "width of a linear ramp to paper below the threshold"})

    def validate(self) -> None:
        """Reject values outside their ranges."""
        if not 0.0 <= self.threshold <= 1.0:
            raise GlyphError(f"filter threshold must be between 0 and 1, got {self.threshold}")
        if not 0.0 <= self.knee <= self.threshold:
            raise GlyphError(f"filter knee must be between 0 and the threshold ({self.threshold}), got {self.knee}")


def apply_filter(image: np.ndarray, config: Config, has_alpha: bool = False) -> np.ndarray:
    """Filter one image of floats in [0,1] (H x W or H x W x C) with ``config``; see :func:`glyph.paper.clean_paper`."""
    return clean_paper(image, config.threshold, config.ink, config.mode, config.knee, has_alpha)


class Filter(Method):
    """Remove faint artefacts: values on the paper side of a threshold become paper."""

    name = "filter"
    Config = Config
    trainable = False
    inputs: ClassVar[dict[str, str]] = {"input": "an image file or a folder of images (mirrored into --out)"}

    def run(
        self,
        ctx: RunContext,
        *,
        input: Annotated[str, Opt("image file or folder to filter (example:NAME for a bundled example)", short="-i")],
        out: Annotated[Path, Opt("output file (for a file) or folder (for a folder)", short="-o")],
        threshold: Annotated[float | None, Opt("paperness above which a value becomes paper")] = None,
        ink: Annotated[Ink | None, Opt("ink polarity: dark, light or auto")] = None,
        mode: Annotated[Mode | None, Opt("channel (as published) or luma")] = None,
        knee: Annotated[float | None, Opt("soft ramp width below the threshold")] = None,
        overwrite: Annotated[bool, Opt("allow --out to be --input: filter the images in place")] = False,
    ) -> None:
        """Filter a file or every image in a folder (the folder tree is mirrored into ``out``)."""
        from glyph.config import apply_overrides

        given = {"threshold": threshold, "ink": ink, "mode": mode, "knee": knee}
        config = apply_overrides(self.config, {k: v for k, v in given.items() if v is not None}, "filter")
        src = resolve_input(input)
        if not src.exists():
            raise GlyphError(f"--input {src}: no such file or folder")
        out = Path(out).expanduser()
        if src.is_dir():
            if out.exists() and not out.is_dir():
                raise GlyphError(f"--out {out} is a file; the input is a folder, so give a folder for the output")
            if out.resolve() == src.resolve() and not overwrite:
                raise GlyphError(f"--out {out} is --input itself: its images would be replaced; choose another "
                                 f"folder, or add --overwrite to filter them in place")
            if out.resolve() != src.resolve() and out.resolve().is_relative_to(src.resolve()):
                raise GlyphError(f"--out {out} is inside --input {src}; choose a folder outside it")
            files, skipped = list_images(src)
            for path, why in skipped:
                ctx.skip(path, why)
            if not files and not skipped:
                raise GlyphError(f"no images in {src} (looked for .png, .jpg, .bmp, .gif, .tif, .webp files)")
            pairs = [(f, out / f.relative_to(src)) for f in files]
        else:
            target = out / src.name if out.is_dir() else out
            if target.resolve() == src.resolve() and not overwrite:
                raise GlyphError(f"--out {out} is the input file: it would be replaced; give another name, or add "
                                 f"--overwrite to filter it in place")
            pairs = [(src, target)]
        for source, target in pairs:
            try:
                pixels, kind = read_image(source, note=ctx.note)
            except ImageReadError as e:
                ctx.skip(source, str(e).removeprefix(f"{source}: "))
                continue
            ctx.save_image(target, apply_filter(pixels, config, has_alpha=kind in ("LA", "RGBA")))

    @classmethod
    def self_test_options(cls, workdir: Path) -> dict:
        """A small speckled glyph-like image to filter."""
        from glyph.imageio import write_image

        rng = np.random.default_rng(0)
        img = np.ones((32, 32), np.float32)
        img[8:24, 14:18] = 0.0
        img += (rng.random((32, 32)) < 0.1) * -0.1
        write_image(workdir / "in.png", np.clip(img, 0, 1))
        return {"input": str(workdir / "in.png"), "out": workdir / "out.png"}
