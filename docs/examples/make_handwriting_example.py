"""Rebuild core/assets/examples/handwriting/: phone-photo-like samples of a synthetic pen writer.

Usage: python docs/examples/make_handwriting_example.py

No real person's handwriting can be bundled, and the corpus fonts are training data, so the example
writer is made here: Noto Sans CJK SC glyphs thinned to a ballpoint line, slanted, and bent by a
smooth random displacement field (a different one per character, as a hand never repeats itself).
Each glyph is then "photographed": off-centre on a larger, tinted sheet with uneven light, a slight
rotation, blue-black ink, sensor noise and JPEG compression. The writer is in no training set.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
OUT = Path(__file__).resolve().parents[2] / "core" / "assets" / "examples" / "handwriting"
CHARS = "我的书写心学字风"
SIZE = 256


def smooth_field(rng: np.random.Generator, size: int, amp: float, cells: int = 4) -> np.ndarray:
    """A smooth random displacement map (bicubic upsampling of a coarse grid)."""
    coarse = rng.normal(0, amp, (cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC))


def pen_glyph(ch: str, rng: np.random.Generator) -> np.ndarray:
    """Ink coverage in [0, 1] of one hand-drawn-looking character on a SIZE canvas."""
    font = ImageFont.truetype(FONT, int(SIZE * 0.7), index=2)
    im = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(im).text((SIZE // 2, SIZE // 2), ch, font=font, fill=255, anchor="mm")
    im = im.filter(ImageFilter.MinFilter(7))  # Regular's strokes thinned to a pen line
    ink = np.asarray(im, np.float32) / 255
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    slant = rng.uniform(0.12, 0.2)  # right-leaning, as many hands are
    dx = smooth_field(rng, SIZE, 6.0) + slant * (yy - SIZE / 2)
    dy = smooth_field(rng, SIZE, 6.0) + rng.uniform(-0.05, 0.05) * (xx - SIZE / 2)
    src_x = np.clip(xx + dx, 0, SIZE - 1).astype(np.int32)
    src_y = np.clip(yy + dy, 0, SIZE - 1).astype(np.int32)
    warped = ink[src_y, src_x]
    out = Image.fromarray((warped * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(3))
    return np.asarray(out.filter(ImageFilter.GaussianBlur(1.0)), np.float32) / 255


def photograph(ink: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """Put the glyph on a lit, tinted sheet as a phone camera would see it."""
    sheet = 420
    canvas = np.zeros((sheet, sheet), np.float32)
    y0, x0 = rng.integers(40, sheet - SIZE - 40, size=2)
    canvas[y0:y0 + SIZE, x0:x0 + SIZE] = ink
    canvas = np.asarray(Image.fromarray((canvas * 255).astype(np.uint8)).rotate(
        rng.uniform(-6, 6), resample=Image.Resampling.BILINEAR), np.float32) / 255
    yy, xx = np.mgrid[0:sheet, 0:sheet].astype(np.float32) / sheet
    light = 0.8 + 0.2 * (rng.uniform(0.3, 1) * xx + rng.uniform(0.3, 1) * (1 - yy)) / 2
    paper = np.array([0.93, 0.91, 0.84], np.float32)  # warm, slightly yellow paper
    pen = np.array([0.12, 0.14, 0.32], np.float32)  # blue-black ballpoint
    rgb = (paper * (1 - canvas[..., None]) + pen * canvas[..., None]) * light[..., None]
    rgb += rng.normal(0, 0.015, rgb.shape).astype(np.float32)
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), "RGB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    for ch in CHARS:
        photograph(pen_glyph(ch, rng), rng).save(OUT / f"{ch}.jpg", quality=85, optimize=True)
    print(f"wrote {len(CHARS)} photos to {OUT}")


if __name__ == "__main__":
    main()
