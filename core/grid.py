"""Tiling images into one grid picture (dataset previews, sample grids, comparison sheets)."""

from __future__ import annotations

import math

import numpy as np


def tile(images: np.ndarray, cols: int | None = None, pad: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile floats ``[N, H, W]`` or ``[N, H, W, C]`` in [0, 1] into one image, ``cols`` per row.

    :param pad_value: the colour between tiles (1.0: white, matching glyphs written as dark ink on white).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    n, h, w, c = images.shape
    if n == 0:
        raise ValueError("no images to tile")
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad, c), pad_value, np.float32)
    for i in range(n):
        r, k = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + k * (w + pad)
        out[y:y + h, x:x + w] = images[i]
    return out[..., 0] if c == 1 else out


def glyphs_for_display(images_u8: np.ndarray, ink: str = "glyph") -> np.ndarray:
    """uint8 ``[N, C, H, W]`` in glyph's convention -> floats ``[N, H, W(, C)]`` as people see them
    (glyphs dark on white; colour data as it is)."""
    a = np.asarray(images_u8, dtype=np.float32) / 255.0
    a = np.moveaxis(a, 1, -1)
    if ink == "glyph":
        a = 1.0 - a
    return a[..., 0] if a.shape[-1] == 1 else a
