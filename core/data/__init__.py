"""glyph's data layer: fonts, charsets, rendering, on-disk layouts, the packed format, loaders,
real-life reference images and damage for restoration.

The ink convention, one for the whole toolkit: glyph images in memory are uint8 tensors
``[N, C, H, W]`` where **255 is full ink and 0 is paper** (light ink on dark, whatever the source
looked like), and floats are ``value / 255`` in [0, 1] (models may map that to [-1, 1]). Zero is
paper, so padding, translation and cut-outs fill with paper and ink coverage is a mean. Files are
converted at the edges: reading detects or is told the polarity (``ink: dark|light|auto``), and
glyph writes dark ink on white paper, as people expect to see glyphs. Colour data (paintings) has
no ink: it is stored as RGB as it is, with ``meta["ink"] = "color"``.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any

INK_GLYPH = "glyph"  # meta["ink"]: 255 = ink, 0 = paper
INK_COLOR = "color"  # meta["ink"]: RGB as it is


@lru_cache(maxsize=1)
def corpus_manifest() -> dict[str, Any]:
    """The training font corpus (core/data/corpus.toml): Debian package, file, face index, family, style, kind."""
    with (resources.files("glyph") / "data" / "corpus.toml").open("rb") as fh:
        return tomllib.load(fh)
