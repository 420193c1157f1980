"""The training loop's own cost: how much of a 64 px dcgan step through glyph's Trainer is not the method's work.

The Trainer runs dcgan (batch 64, the precision ``auto`` picks, channels_last) for a few steps with the method's
``make_batch`` and ``train_step`` wrapped in timers. Its loop time is read from its own metrics.jsonl (from the
first step to the last, without set-up or the final checkpoint); what the wrapped calls did not take is the
loop's own cost (batch indexing and the channels_last copy, clearing gradients, the non-finite guard, EMA,
logging, hooks). Both are measured over the same steps, so they see the same machine: timing the Trainer and a
bare harness in turns would put this VM's drift between runs (10 % and more over a minute) into a number meant
to resolve 2 %.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from .methods import target

OVERHEAD_TARGET = 2.0  # percent of the method's own step time the Trainer may add


def _timed(fn: Any, spent: list[float]) -> Any:
    """``fn`` with the seconds of every call added to ``spent[0]``."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t

    return wrapper


def loop_and_method_seconds(data: Any, steps: int, folder: Path, method: Any = None) -> tuple[float, float]:
    """(seconds of the Trainer's loop, seconds inside the method's make_batch and train_step) over ``steps``
    steps of ``method`` (default: dcgan at batch 64)."""
    from glyph.trainer import TrainConfig, Trainer

    if method is None:
        from glyph.plugins.dcgan.method import DCGAN

        method = DCGAN(DCGAN.Config(batch=64, steps=steps))
    spent = [0.0]
    method.make_batch = _timed(method.make_batch, spent)
    method.train_step = _timed(method.train_step, spent)
    cfg = TrainConfig(precision="auto", sample_every=0, ckpt_every=10**6, log_every=steps)
    Trainer(method, data, folder, cfg, "cpu", quiet=True).fit()
    last = json.loads((folder / "metrics.jsonl").read_text().splitlines()[-1])
    return steps / last["it/s"], spent[0]


def run(steps: int = 20, rounds: int = 2, quick: bool = False) -> dict:
    """The suite; ``quick`` runs one round of 3 steps."""
    from glyph.data.sources import open_dataset

    if quick:
        steps, rounds = 3, 1
    data = open_dataset("embedded")
    loop = inside = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            a, b = loop_and_method_seconds(data, steps, Path(tmp) / f"run{r}")
            loop, inside = loop + a, inside + b
    n = steps * rounds
    out: dict[str, Any] = {"dcgan64_step_s_through_trainer": round(loop / n, 4),
                           "dcgan64_step_s_in_the_method": round(inside / n, 4), "timed_steps": n}
    target(out, "trainer_overhead_percent", 100 * (loop - inside) / inside, OVERHEAD_TARGET, higher=False)
    out["dcgan64_img_per_s_through_trainer"] = round(64 * n / loop)
    return out
