"""The pictures ``glyph run restorecae`` draws: uncertainty maps and the labelled compare sheet."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Uncertainty shown at full colour; a restoration's per-pixel standard deviation rarely exceeds it.
SHOWN_MAX = 0.25
FLAG_COLOUR = (200, 30, 30)
FLAG_TEXT = {"char": "other char?", "unclear": "reads unclearly", "ink": "ink erased", "unsure": "unsure"}


def uncertainty_picture(uncertainty: np.ndarray, restored: np.ndarray) -> np.ndarray:
    """RGB floats ``[H, W, 3]``: the restoration in light grey, red where the model was unsure.

    :param uncertainty: ``[H, W]`` standard deviations; ``restored``: ``[H, W]`` in [0, 1], 1 = ink.
    """
    heat = np.clip(uncertainty / SHOWN_MAX, 0, 1)
    base = 1.0 - 0.3 * np.clip(restored, 0, 1)
    return np.stack([base, base * (1 - 0.85 * heat), base * (1 - heat)], -1).astype(np.float32)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def compare_sheet(columns: dict[str, Sequence[np.ndarray | None]], codes: Sequence[Sequence[str]],
                  names: Sequence[str], scale: int = 2) -> Image.Image:
    """One row per glyph, one labelled column per picture, flagged rows framed in red with why.

    :param columns: column label -> one picture per row (``[H, W]`` ink in [0, 1] with 1 = ink, or RGB display
        floats ``[H, W, 3]``; None leaves the cell empty).
    :param codes: the flag codes of each row (see :data:`FLAG_TEXT`); ``names``: each row's input file name.
    """
    rows = len(names)
    first = next(p for col in columns.values() for p in col if p is not None)
    cell = first.shape[0] * scale
    pad, head, label_w = 6, 24, 150
    width = pad + len(columns) * (cell + pad) + label_w
    height = head + rows * (cell + pad) + pad
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    font, small = _font(14), _font(12)
    for j, label in enumerate(columns):
        draw.text((pad + j * (cell + pad) + cell // 2, head // 2), label, fill="black", font=font, anchor="mm")
    for i in range(rows):
        y = head + i * (cell + pad)
        for j, col in enumerate(columns.values()):
            picture = col[i]
            if picture is None:
                continue
            shown = np.repeat(1.0 - picture[..., None], 3, -1) if picture.ndim == 2 else picture
            im = Image.fromarray((np.clip(shown, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
            sheet.paste(im.resize((cell, cell), Image.Resampling.NEAREST), (pad + j * (cell + pad), y))
        x = pad + len(columns) * (cell + pad)
        # The label font has no CJK: a name such as 永.png is shown by its code point (report.json has it all).
        name = names[i] if names[i].isascii() else "".join(c if c.isascii() else f"U+{ord(c):04X}" for c in names[i])
        draw.text((x, y + 4), f"{i + 1}. {name}"[:22], fill="black", font=small)
        if codes[i]:
            draw.rectangle([pad // 2, y - pad // 2, x - pad // 2, y + cell + pad // 2 - 1], outline=FLAG_COLOUR,
                           width=3)
            for k, code in enumerate(dict.fromkeys(codes[i])):
                draw.text((x, y + 24 + 16 * k), "! " + FLAG_TEXT.get(code, code), fill=FLAG_COLOUR, font=small)
    return sheet
