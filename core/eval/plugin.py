"""Registers glyph's built-in metrics."""

import glyph

# name -> class in glyph.eval.metrics, in the order `glyph eval` runs them. By reference: the metrics (and torch)
# are imported only when an evaluation uses them, so `glyph --help` stays fast.
BUILTIN = {"fgd": "FGD", "kid": "KID", "content_acc": "ContentAccuracy", "readable": "Readable",
           "style_acc": "StyleAccuracy", "writer_id": "WriterID", "judge_is": "JudgeIS", "ssim": "SSIM",
           "psnr": "PSNR", "l1": "L1", "rmse": "RMSE", "inception_fid": "InceptionFID"}


@glyph.hookimpl
def glyph_register_metrics(register):
    """FGD, KID, content and style accuracy, writer identification, judge IS, SSIM, PSNR, L1, RMSE, Inception-FID."""
    for name, cls in BUILTIN.items():
        register(f"glyph.eval.metrics:{cls}", name=name)
