"""Rebuild core/assets/examples/inscription/: worn rubbing-like glyphs and their clean originals.

Usage: .venv/bin/python docs/examples/make_inscription_example.py   (needs the corpus fonts: bash .ci/setup)

No rubbing can be bundled whose clean original is known, so the example is made the way glyph's restoration
benchmark makes its pairs: characters drawn by AR PL KaitiM GB, a face that restorecae's training never sees
(an unseen writer of the corpus split seed 5), of characters it never sees either (from that split's 394
held-out characters), worn by the data layer's seeded damage at a heavier than default strength, then shown as
a rubbing (light strokes on dark stone) at 128 px. ``damaged/`` holds the rubbings named by their character (so
restorecae finds each one's standard form), ``clean/`` the same glyphs unworn, dark on white.
"""

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from glyph.data.damage import Damage, damage_images
from glyph.data.fonts import parse_font_specs
from glyph.data.render import RenderSpec, render_faces

OUT = Path(__file__).resolve().parents[2] / "core" / "assets" / "examples" / "inscription"
CHARS = "仁友四世圣图吉印"  # held-out characters of the corpus split with seed 5
FONT = "kaiti-gb"  # a held-out writer of the same split
SEED, STRENGTH = 11, 1.3


def main() -> None:
    (face,) = render_faces(parse_font_specs(FONT), list(CHARS), RenderSpec(size=64))
    assert list(face.chars) == list(CHARS), f"{FONT} lacks some of {CHARS}"
    clean = torch.from_numpy(np.stack(face.images)).unsqueeze(1)  # uint8, 255 = ink
    worn = damage_images(clean, seed=SEED, config=Damage(k=3, strength=STRENGTH))
    for sub in ("damaged", "clean"):
        (OUT / sub).mkdir(parents=True, exist_ok=True)
    for ch, c, w in zip(CHARS, clean[:, 0].numpy(), worn[:, 0].numpy(), strict=True):
        stone = Image.fromarray((40 + w.astype(np.float32) * (200 / 255)).astype(np.uint8))  # light ink on stone
        stone.resize((128, 128), Image.Resampling.BICUBIC).save(OUT / "damaged" / f"{ch}.png", optimize=True)
        Image.fromarray(255 - c).save(OUT / "clean" / f"{ch}.png", optimize=True)
    print(f"wrote {len(CHARS)} pairs to {OUT}")


if __name__ == "__main__":
    main()
