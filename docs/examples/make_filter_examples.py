"""Rebuild core/assets/examples/filter-grids/: glyph grids with the faint grey blotches the filter removes.

Usage: python docs/examples/make_filter_examples.py [FONT]   (default: AR PL UKai CN, a corpus face)
The blotches imitate the artefacts of an under-trained generator (seeds-code-report §1.9): soft
grey patches and speckle between 0.82 and 0.95 on white paper, which a threshold of 0.8 clears.
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/arphic/ukai.ttc"
OUT = Path(__file__).resolve().parents[2] / "core" / "assets" / "examples" / "filter-grids"
TEXT = "永和九年岁在癸丑暮春之初会于山"


def grid(chars: str, tile: int = 64, cols: int = 4) -> np.ndarray:
    font = ImageFont.truetype(FONT, int(tile * 0.8))
    rows = (len(chars) + cols - 1) // cols
    im = Image.new("L", (cols * tile, rows * tile), 255)
    draw = ImageDraw.Draw(im)
    for i, ch in enumerate(chars):
        x, y = (i % cols) * tile + tile // 2, (i // cols) * tile + tile // 2
        draw.text((x, y), ch, font=font, fill=0, anchor="mm")
    return np.asarray(im, np.float32) / 255.0


def blotch(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w]
    shade = np.zeros_like(img)
    for _ in range(14):
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(4, 14)
        shade = np.maximum(shade, rng.uniform(0.05, 0.18) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)))
    shade += (rng.random((h, w)) < 0.03) * rng.uniform(0.05, 0.15, (h, w))
    return np.clip(np.minimum(img, 1.0 - np.clip(shade, 0, 0.18)), 0, 1)


def main() -> None:
    rng = np.random.default_rng(2026)
    OUT.mkdir(parents=True, exist_ok=True)
    g = blotch(grid(TEXT[:16]), rng)
    Image.fromarray((g * 255 + 0.5).astype(np.uint8), "L").save(OUT / "grid-gray.png", optimize=True)
    g2 = blotch(grid(TEXT[::-1][:16]), rng)
    paper = np.array([1.0, 0.97, 0.92], np.float32)  # warm paper, ink stays near black
    rgb = g2[..., None] * paper
    Image.fromarray((rgb * 255 + 0.5).astype(np.uint8), "RGB").save(OUT / "grid-rgb.png", optimize=True)


if __name__ == "__main__":
    main()
