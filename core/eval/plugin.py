"""Registers glyph's built-in metrics."""

import glyph


@glyph.hookimpl
def glyph_register_metrics(register):
    """FGD, KID, content and style accuracy, writer identification, judge IS, SSIM, PSNR, L1, RMSE, Inception-FID."""
    from .metrics import BUILTIN

    for metric in BUILTIN:
        register(metric)
