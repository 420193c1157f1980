"""Otsu binarisation: the threshold that maximises the between-class variance of the histogram."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np

from glyph import GlyphError, Method, Opt, RunContext, resolve_input
from glyph.imageio import ImageReadError, list_images, read_image, write_image


@dataclass
class Config:
    """Binarisation settings."""

    threshold: float | None = field(default=None, metadata={"help": "fixed threshold in [0,1]; None: Otsu"})


def otsu(gray: np.ndarray) -> float:
    """Otsu's threshold of floats in [0,1], over a 256-bin histogram."""
    hist = np.bincount(np.clip((gray * 255).astype(int), 0, 255).ravel(), minlength=256).astype(np.float64)
    p = hist / hist.sum()
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    between = (mu[-1] * omega - mu) ** 2 / np.maximum(omega * (1 - omega), 1e-12)
    return float(np.argmax(between)) / 255.0


class Binarize(Method):
    """Binarise glyph images: ink becomes 0, paper 1."""

    name = "binarize"
    Config = Config
    trainable = False

    def run(
        self,
        ctx: RunContext,
        *,
        input: Annotated[str, Opt("an image or a folder of images", short="-i")],
        out: Annotated[Path, Opt("output folder", short="-o")],
    ) -> None:
        """Binarise every image of ``input`` into ``out`` (same file names, PNG)."""
        src = resolve_input(input)
        if not src.exists():
            raise GlyphError(f"--input {src}: no such file or folder")
        files, skipped = list_images(src) if src.is_dir() else ([src], [])
        for path, why in skipped:
            ctx.skip(path, why)
        for path in files:
            try:
                pixels, kind = read_image(path)
            except ImageReadError as e:
                ctx.skip(path, str(e))
                continue
            color = pixels[..., :-1] if kind in ("LA", "RGBA") else pixels  # drop alpha
            gray = color if color.ndim == 2 else color.mean(axis=-1)
            t = self.config.threshold if self.config.threshold is not None else otsu(gray)
            target = Path(out) / path.with_suffix(".png").name
            ctx.save_image(target, (gray > t).astype(np.float32))

    @classmethod
    def self_test_options(cls, workdir: Path) -> dict:
        """A two-level test image."""
        img = np.full((16, 16), 0.9, np.float32)
        img[4:12, 6:10] = 0.1
        write_image(workdir / "b.png", img)
        return {"input": str(workdir / "b.png"), "out": workdir / "out"}
