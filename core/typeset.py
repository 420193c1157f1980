"""Typesetting generated glyphs into a page: lines, full-width advance, punctuation that never starts a line.

Used by methods that write text (``glyph run dsfgan --text``) to show the result as people read it.
Glyphs are display arrays (floats in [0, 1], 1 = paper), all of one square size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# Punctuation that must not begin a line (Chinese/Japanese line-breaking rules, kinsoku shori):
# it hangs at the end of the previous line instead.
NO_LINE_START = set("，。、；：？！）」』》〉】”’…～·")


def _lines(text: str, columns: int) -> list[list[str]]:
    """Break ``text`` into lines of at most ``columns`` cells (a hanging mark may add one)."""
    out: list[list[str]] = []
    for para in text.split("\n"):
        line: list[str] = []
        for ch in para:
            if len(line) >= columns and ch not in NO_LINE_START:
                out.append(line)
                line = []
            line.append(ch)
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return out or [[]]


def typeset(text: str, glyphs: dict[str, np.ndarray], punctuation: dict[str, np.ndarray] | None = None,
            columns: int = 12, gap: float = 0.08, leading: float = 0.35, margin: float = 0.5) -> np.ndarray:
    """Lay ``text`` out on white paper, left to right, top to bottom.

    :param glyphs: character -> display glyph; characters without one (and without punctuation) are left out.
    :param punctuation: display glyphs drawn where they sit in the em square (e.g. a comma low left).
    :param columns: cells per line; ``\\n`` in the text starts a new line.
    :param gap: space between cells, as a fraction of the cell size.
    :param leading: extra space between lines, as a fraction of the cell size.
    :param margin: page margin, as a fraction of the cell size.
    :returns: the page, floats in [0, 1] (1 = paper), ``[H, W]``.
    """
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    punctuation = punctuation or {}
    sample = next(iter(glyphs.values()), None)
    if sample is None:
        sample = next(iter(punctuation.values()), np.ones((64, 64), np.float32))
    size = int(sample.shape[0])
    step, line_h, pad = round(size * (1 + gap)), round(size * (1 + leading)), round(size * margin)
    kept = [[ch for ch in line if ch in glyphs or ch in punctuation or ch in " \u3000"]
            for line in _lines(text, columns)]
    widest = max((sum(0.5 if ch == " " else 1.0 for ch in line) for line in kept), default=1.0)
    width = 2 * pad + max(1, round(widest * step))
    height = 2 * pad + len(kept) * line_h - (line_h - size)
    page = np.ones((height, width), np.float32)
    for row, line in enumerate(kept):
        x, y = float(pad), pad + row * line_h
        for ch in line:
            if ch == " ":
                x += step / 2
                continue
            img = glyphs.get(ch, punctuation.get(ch))
            if img is not None:
                xi = round(x)
                page[y:y + size, xi:xi + size] = np.minimum(page[y:y + size, xi:xi + size], img[:size, :size])
            x += step
    return page


def typeset_text(text: str, glyphs: Mapping[str, Any], columns: int = 12) -> np.ndarray:
    """A page of ``text`` in ``glyphs`` (character -> PIL image as shown, dark ink on white, or display array)
    with its full-width punctuation from the standard font, sitting where the font puts it: what ``glyph run
    dsfgan`` saves as preview.png and what glyph studio shows.

    :returns: the page, floats in [0, 1] (1 = paper), ``[H, W]``.
    """
    from .data.templates import PUNCTUATION, template_glyphs

    cells: dict[str, np.ndarray] = {}
    for ch, img in glyphs.items():
        a = np.asarray(img.convert("L") if hasattr(img, "convert") else img, dtype=np.float32)
        cells[ch] = a / 255.0 if a.max(initial=0.0) > 1.0 else a
    punct = template_glyphs([ch for ch in text if ch in PUNCTUATION], fit="em").glyphs
    # Characters with no glyph (Latin letters, emoji a writer skipped) leave no gap: lines break on what is shown.
    shown = "".join(ch for ch in text if ch in cells or ch in punct or ch.isspace())
    return typeset(shown, cells, {ch: 1.0 - g.astype(np.float32) / 255 for ch, g in punct.items()}, columns)
