"""Rebuild docs/img/synth-writers.png: synthetic pen writers next to real handwriting-like corpus faces.

Usage: python docs/examples/make_synth_sheet.py [--strokes PATH] [--seed S] [--size PX]

Rows: two corpus faces (LXGW WenKai, Kouzan Gyousyo; rendered with glyph's font pipeline) on top, a gap,
then the first two writers of each pen (ballpoint, felt tip, pencil, brush) of `glyph data synth --seed S`
(stroke data from hanzi-writer-data, fetched by `bash .ci/setup --corpus-extra`). Each row is one writer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from glyph.data.fonts import parse_font_specs
from glyph.data.pen import PENS, sample_writer
from glyph.data.render import RenderSpec, render_faces
from glyph.data.strokes import StrokeData
from glyph.data.synth import draw_block
from glyph.grid import glyphs_for_display, tile
from glyph.imageio import write_image

OUT = Path(__file__).resolve().parents[1] / "img" / "synth-writers.png"
CHARS = "永我的写心学字和春道"
FACES = "lxgw-wenkai-regular,kouzan-gyousyo"
PER_PEN = 2  # the first writers of each pen kind among the seed's writers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strokes", default=None, help="hanzi-writer-data folder (default: glyph's cache)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    spec = RenderSpec(size=args.size)
    writers: list[int] = []
    for pen in PENS:
        writers += [i for i in range(200) if sample_writer(args.seed, i).pen == pen][:PER_PEN]
    synth = draw_block(StrokeData(args.strokes), args.seed, writers, list(CHARS), spec)
    fonts = np.stack([r.images for r in render_faces(parse_font_specs(FACES), list(CHARS), spec)])
    gap = np.zeros((1, len(CHARS), args.size, args.size), np.uint8)
    rows = np.concatenate([fonts, gap, synth]).reshape(-1, args.size, args.size)
    write_image(args.out, tile(glyphs_for_display(rows[:, None]), cols=len(CHARS)))
    for row, i in enumerate(writers, start=4):
        w = sample_writer(args.seed, i)
        print(f"row {row}: {w.name} {w.pen} half-width {w.width:.3f} slant {w.slant:+.2f} "
              f"ligatures {w.ligature:.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
