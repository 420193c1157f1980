"""The training loop's own cost: a 64 px dcgan step through glyph's Trainer vs the same step called bare.

Both run the same method code (make_batch + train_step with the precision auto picks and channels_last), alternately in
one process; the difference is what the loop adds (batch indexing, the non-finite guard, EMA, logging, hooks).
The Trainer's rate is read from its own metrics.jsonl (from the first step to the last, without set-up or the
final checkpoint).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from .methods import target

OVERHEAD_TARGET = 2.0  # percent of a step the Trainer may add to the method's own step


def _bare_step_time(data, steps: int) -> float:
    """Seconds per step of the methods suite's harness: the Trainer's step (gradients cleared, nets in train
    mode, channels_last batches from the same BatchLoader) without its bookkeeping."""
    from glyph.plugins.dcgan.method import DCGAN

    from .methods import GlyphSteps

    bare = GlyphSteps(DCGAN.Config(batch=64), "dcgan", data)
    start = time.perf_counter()
    for _ in range(steps):
        bare.step()
    return (time.perf_counter() - start) / steps


def _trainer_step_time(data, steps: int, folder: Path) -> float:
    from glyph.plugins.dcgan.method import DCGAN
    from glyph.train import TrainConfig, Trainer

    cfg = TrainConfig(precision="auto", sample_every=0, ckpt_every=10**6, log_every=steps)
    Trainer(DCGAN(DCGAN.Config(batch=64, steps=steps)), data, folder, cfg, "cpu", quiet=True).fit()
    last = json.loads((folder / "metrics.jsonl").read_text().splitlines()[-1])
    return 1.0 / last["it/s"]


def run(steps: int = 20, rounds: int = 3, quick: bool = False) -> dict:
    """The suite; ``quick`` runs one round of 3 steps."""
    from glyph.data.sources import open_dataset

    if quick:
        steps, rounds = 3, 1
    data = open_dataset("embedded")
    _bare_step_time(data, 3)  # warm-up
    loop, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            loop.append(_trainer_step_time(data, steps, Path(tmp) / f"run{r}"))
            bare.append(_bare_step_time(data, steps))
    lt, bt = min(loop), min(bare)
    out = {"dcgan64_step_s_through_trainer": round(lt, 4), "dcgan64_step_s_bare": round(bt, 4)}
    target(out, "trainer_overhead_percent", 100 * (lt - bt) / bt, OVERHEAD_TARGET, higher=False)
    out["dcgan64_img_per_s_through_trainer"] = round(64 / lt)
    return out
