"""Evaluation throughput: judge features per second at 64 px (the number FGD, KID and accuracy cost)."""

from __future__ import annotations

import time


def run(quick: bool = False) -> dict:
    """The suite; ``quick`` measures 512 images once."""
    import torch

    from glyph.data.sources import open_dataset
    from glyph.device import bf16_is_fast
    from glyph.eval.metrics import EvalContext

    from .peak import NO_NATIVE_BF16

    emb = open_dataset("embedded")
    data = emb.subset(slice(0, 512 if quick else 4096))
    out: dict = {}
    precisions = ["fp32", "bf16"]
    if not bf16_is_fast(torch.device("cpu")):  # emulated bf16 would take many minutes; auto uses fp32 here
        precisions.remove("bf16")
        out["judge_features_per_s_64px_bf16"] = NO_NATIVE_BF16
    for precision in precisions:
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
