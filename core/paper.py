"""Paper and ink: which side of an image is the paper, and pushing faint values onto it.

The rule of the calligraphy ProGAN project's artefact filter (seeds-code-report §1.9), x' = x + (1 - x)[x > 0.8],
expressed in *paperness* (how far a value is from ink towards paper) so that it holds for dark ink on light paper
and for light ink on dark paper. It lives in core because generation (``--filter`` of every sampler) and the
``filter`` method both use it; plugins never import one another.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Ink = Literal["dark", "light", "auto"]
Mode = Literal["channel", "luma"]
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as Pillow's "L" conversion


def ink_is_dark(color: np.ndarray) -> bool:
    """Guess the polarity: the paper is the majority, so a bright median means dark ink."""
    luma = color @ LUMA[: color.shape[-1]] / LUMA[: color.shape[-1]].sum() if color.ndim == 3 else color
    return float(np.median(luma)) >= 0.5


def clean_paper(image: np.ndarray, threshold: float = 0.8, ink: Ink = "auto", mode: Mode = "channel",
                knee: float = 0.0, has_alpha: bool = False) -> np.ndarray:
    """Turn values on the paper side of ``threshold`` into paper; return a new float32 array.

    :param image: floats in [0, 1], H x W or H x W x C; with ``has_alpha`` the last channel is alpha and passes
        through unchanged.
    :param threshold: paperness above which a value becomes paper (0..1).
    :param ink: ``dark`` on light paper, ``light`` on dark paper, or ``auto`` (the majority is paper).
    :param mode: decide per ``channel`` (as published) or on luminance (``luma``, colour kept in step).
    :param knee: width of a linear ramp to paper below the threshold (0: a hard step).
    """
    x = np.asarray(image, dtype=np.float32)
    alpha = None
    if has_alpha:
        x, alpha = x[..., :-1], x[..., -1:]
        if x.shape[-1] == 1:
            x = x[..., 0]
    dark = ink_is_dark(x) if ink == "auto" else ink == "dark"
    paperness = x if dark else 1.0 - x
    if mode == "luma" and x.ndim == 3:
        w = LUMA[: x.shape[-1]] / LUMA[: x.shape[-1]].sum()
        paperness = np.repeat((paperness @ w)[..., None], x.shape[-1], axis=-1)
    if knee > 0:
        # 0 below threshold - knee, rising linearly to 1 at the threshold: how far to push each value to paper.
        push = np.clip((paperness - (threshold - knee)) / knee, 0.0, 1.0)
    else:
        push = (paperness > threshold).astype(np.float32)
    paper = 1.0 if dark else 0.0
    out = x + (paper - x) * push
    if alpha is not None:
        out = np.concatenate([out if out.ndim == 3 else out[..., None], alpha], axis=-1)
    return out.astype(np.float32)
