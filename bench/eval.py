"""Evaluation throughput: judge features per second at 64 px (the number FGD, KID and accuracy cost)."""

from __future__ import annotations

import time


def run(quick: bool = False) -> dict:
    """The suite; ``quick`` measures 512 images once."""
    from glyph.data.sources import open_dataset
    from glyph.eval.metrics import EvalContext

    emb = open_dataset("embedded")
    data = emb.subset(slice(0, 512 if quick else 4096))
    out: dict = {}
    for precision in ("fp32", "bf16"):
        ctx = EvalContext(precision=precision)
        ctx.outputs(data.subset(slice(0, 256)))  # load the judge, warm up
        best = float("inf")
        for _ in range(1 if quick else 2):
            ctx._outputs.clear()
            t = time.perf_counter()
            ctx.outputs(data)
            best = min(best, time.perf_counter() - t)
        out[f"judge_features_per_s_64px_{precision}"] = round(len(data) / best)
    return out
