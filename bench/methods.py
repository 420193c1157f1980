"""Training throughput of every trainable method: glyph's step against a plain-PyTorch reference.

For each method at its default config (and progan's cpu preset, the schedule one trains on a CPU):

- glyph: the method's own ``make_batch`` + ``train_step``, as the Trainer calls them (batches indexed from the
  dataset in memory, the precision ``auto`` picks (bf16 autocast where the CPU has native bf16, else fp32),
  channels_last), without the loop's bookkeeping (the train suite measures
  that: under 2 %); on a CPU with native bf16 also in fp32, as rows ``CASE fp32`` (how a CPU without bf16, most
  laptops', trains);
- reference: :mod:`bench.reference`, the same networks and losses in fp32 with a DataLoader decoding PNGs;

alternately in one process, best round of each, so both see the same machine. Per method it reports images/s of
both and their ratio (target >= 1.8x where glyph trains in bf16, >= 1.3x in fp32), the FLOPs of one step (forward
and backward of every network, counted by ``torch.utils.flop_counter``; convolutions, matmuls and attention, not
element-wise work), the GFLOP/s glyph achieves and its share of the machine's matmul peak in that precision (target
>= 50 % for the 64 px dcgan, progan and ddpm), and the share of the step spent making the batch (target < 5 %).

progan trains through stages of growing resolution; it is measured at the last stage (64 px, fade-in over,
alpha = 1), the step numbers chosen with its own ``phase``. dsfgan is measured in its GAN stage (all but the
first ``rec_steps`` of its schedule) over whole cycles of its reference counts (1, 2, 4, 8), and progan's cpu
preset over whole cycles of its lazy R1 (every 4th step), so a step's FLOPs and time are the cycle's mean.
"""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass(frozen=True)
class Case:
    """One measured configuration: a registered method and an optional preset of registry.toml."""

    name: str
    method: str
    preset: str | None = None
    peak_target: bool = False  # the >= 50 % of bf16 peak target applies (64 px dcgan, progan, ddpm)


CASES = (Case("dcgan", "dcgan", peak_target=True), Case("vae", "vae"), Case("progan", "progan", peak_target=True),
         Case("progan-cpu", "progan", "cpu"), Case("ddpm", "ddpm", peak_target=True),
         Case("restorecae", "restorecae"), Case("dsfgan", "dsfgan"))

RATIO_TARGET = 1.8  # glyph images/s over the reference's, where glyph trains in bf16 (or fp16 on a GPU)
FP32_RATIO_TARGET = 1.3  # ... where it trains in fp32, as on a CPU without native bf16
PEAK_TARGET = 50.0  # percent of the matmul peak in the precision glyph trains in
BATCH_TARGET = 5.0  # percent of the step spent in make_batch


def glyph_precision(device: torch.device | None = None) -> str:
    """The precision glyph trains in on ``device`` (default the CPU) with ``--precision auto``: bf16 where it is
    native, else fp32 (fp16 is not measured: it needs the Trainer's loss scaling)."""
    from glyph.device import auto_precision

    precision = auto_precision(device or torch.device("cpu"))
    return precision if precision == "bf16" else "fp32"


def make_config(case: Case, overrides: dict[str, Any] | None = None) -> Any:
    """The Config of ``case``: defaults, the preset's overrides, then ``overrides`` (the tests' tiny sizes)."""
    from glyph.config import apply_overrides
    from glyph.loader import get_registry

    entry = get_registry().method(case.method)
    config = entry.obj.Config()
    if case.preset:
        config = apply_overrides(config, entry.catalogue["presets"][case.preset], f"preset '{case.preset}'")
    return apply_overrides(config, overrides or {}, "benchmark") if overrides else config


class _Bare:
    """The minimum a method's train_step needs from the trainer: autocast, backward, step."""

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], device: torch.device | None = None,
                 precision: str | None = None) -> None:
        self.optimizers = optimizers
        self.device_type = (device or torch.device("cpu")).type
        # Decided once, not on every forward pass; None: what glyph picks on the device.
        self.bf16 = (precision or glyph_precision(device)) == "bf16"

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16)

    def backward(self, loss: torch.Tensor) -> bool:
        loss.backward()
        return True

    def step(self, name: str) -> bool:
        self.optimizers[name].step()
        self.optimizers[name].zero_grad(set_to_none=True)
        return True


def synchronize(device: torch.device | None) -> None:
    """Wait for the GPU's queued work, so that a clock read after it counts that work (a no-op on a CPU)."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def _images(batch: dict[str, Any]) -> int:
    """Images a batch trains on: the generated targets (dsfgan), the damaged inputs (restorecae), the images."""
    for key in ("image", "target", "damaged"):
        if key in batch:
            return len(batch[key])
    raise KeyError(f"no image tensor in the batch (keys {sorted(batch)})")


class GlyphSteps:
    """Steps of a method exactly as glyph's Trainer runs them, timed with the batch making apart."""

    def __init__(self, config: Any, method: str, data: Any, seed: int = 0, device: torch.device | None = None,
                 precision: str | None = None) -> None:
        from glyph.data.loader import BatchLoader
        from glyph.loader import get_registry

        torch.manual_seed(seed)
        self.device = device or torch.device("cpu")
        self.method = get_registry().method(method).obj(config)
        self.nets = self.method.build()
        for net in self.nets.values():
            net.to(self.device, memory_format=torch.channels_last).train()
        self.bare = _Bare(self.method.configure_optimizers(), self.device, precision)
        data = data.to(self.device)  # as the Trainer: the whole dataset lives on the device
        self.data = data
        self.start, self.cycle = measured_steps(self.method)
        self.step_no = self.start
        rows = self.method.train_rows(data)
        batch = int(self.method.phase(self.start).get("batch", self.method.config.batch))
        self.loader = BatchLoader(len(data), batch, seed=seed, rows=rows, device=self.device)

    def step(self) -> tuple[float, float, int]:
        """One training step: (seconds making the batch, seconds in all, images)."""
        m = self.method
        t0 = time.perf_counter()
        phase = m.phase(self.step_no)
        self.loader.batch_size = int(phase.get("batch", m.config.batch))
        batch = m.make_batch(self.data, self.loader.next(), phase)
        batch = {k: v.contiguous(memory_format=torch.channels_last) if isinstance(v, torch.Tensor) and v.ndim == 4
                 else v for k, v in batch.items()}
        synchronize(self.device)
        t1 = time.perf_counter()
        for opt in self.bare.optimizers.values():  # as the Trainer: no gradient carries over between steps
            opt.zero_grad(set_to_none=True)
        for net in m.nets.values():
            net.train()
        m.train_step(batch, self.step_no, self.bare)
        synchronize(self.device)
        self.step_no += 1
        return t1 - t0, time.perf_counter() - t0, _images(batch)


def measured_steps(method: Any) -> tuple[int, int]:
    """(first step number, steps per cycle) at which a method is measured (see the module docstring)."""
    c = method.config
    if method.name == "progan":
        sched = method.schedule
        last = len(sched.stage_steps) - 1
        fade_end = sum(sched.stage_steps[:last]) + math.ceil(c.fade * c.stage_images[last] / c.batches[last])
        every = int(c.r1_every)
        start = -(-fade_end // every) * every
        phase = method.phase(start)
        if phase["stage"] != last or phase["alpha"] != 1.0:
            raise RuntimeError(f"progan step {start} should be past the last fade-in, its phase is {phase}")
        return start, every
    if method.name == "dsfgan":
        n = len(c.ref_counts)
        return -(-int(c.rec_steps) // n) * n, n
    return 0, 1


def count_flops(step: Any, n: int) -> tuple[float, list[Any]]:
    """FLOPs of ``n`` calls of ``step`` (forward and backward of every network), per call, and what each call
    returned."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        returned = [step() for _ in range(n)]
    return counter.get_total_flops() / n, returned


def compare(glyph: GlyphSteps, reference: Any, budget: float, rounds: int) -> dict[str, float]:
    """Warm both up (counting FLOPs meanwhile), then alternate timed rounds within ``budget`` seconds.

    When one cycle of both already exceeds the budget (progan's published widths, the VAE: steps of 20 s to
    2 min), the warm-up cycle is the measurement: timing it again would double the suite's longest cases, and
    the first step's extra cost (0.2-2 s here, on both sides alike; the JSON's ``first_step_s`` keys show it
    for every case) is a few percent of such steps at most. Returns seconds per step and images per step for
    both, the batch-making share, the FLOPs per step, the rounds timed (0: the warm-up was the measurement).
    """
    cycle = glyph.cycle
    t = time.perf_counter()
    glyph_flops, warm = count_flops(glyph.step, cycle)  # the first steps: oneDNN picks its kernels, caches fill
    t_glyph = time.perf_counter() - t
    t = time.perf_counter()
    reference_flops, ref_warm = count_flops(reference.step, cycle)
    t_ref = time.perf_counter() - t
    rounds = min(rounds, int(budget / (t_glyph + t_ref)))
    if rounds == 0:  # the warm-up is the measurement
        per_round = cycle
        best_glyph, best_ref = t_glyph, t_ref
        batch_share = sum(p[0] for p in warm) / sum(p[1] for p in warm)
        images, ref_images = sum(p[2] for p in warm), sum(ref_warm)
    else:  # as many whole cycles per round as the budget allows, at least one
        per_round = cycle * max(1, int(budget / rounds / (t_glyph + t_ref)))
        best_glyph = best_ref = math.inf
    for _ in range(rounds):
        parts = [glyph.step() for _ in range(per_round)]
        total = sum(p[1] for p in parts)
        if total < best_glyph:
            best_glyph, batch_share = total, sum(p[0] for p in parts) / total
            images = sum(p[2] for p in parts)
        t = time.perf_counter()
        ref_images = sum(reference.step() for _ in range(per_round))
        best_ref = min(best_ref, time.perf_counter() - t)
    return {"glyph_step_s": best_glyph / per_round, "reference_step_s": best_ref / per_round,
            "glyph_first_step_s": t_glyph / cycle, "reference_first_step_s": t_ref / cycle,
            "glyph_img_per_s": images / best_glyph, "reference_img_per_s": ref_images / best_ref,
            "images_per_step": images / per_round, "batch_share": batch_share, "glyph_flops": glyph_flops,
            "reference_flops": reference_flops, "steps_per_round": per_round, "rounds": rounds}


def target(out: dict[str, Any], key: str, value: float, goal: float, higher: bool, digits: int = 2) -> None:
    """Record ``value`` under ``key`` with ``key_target_met``; when missed, ``key_missed_by`` says by how much."""
    out[key] = round(value, digits)
    met = value >= goal if higher else value < goal
    out[f"{key}_target_met"] = met
    if not met:
        out[f"{key}_missed_by"] = round(abs(goal - value), digits)


def measure(case: Case, data: Any, glyphs: Any, peak: float, budget: float, rounds: int,
            overrides: dict[str, Any] | None = None, device: torch.device | None = None,
            precision: str | None = None) -> dict[str, Any]:
    """Every number of one case, keyed without the case's name; ``device`` (default the CPU) runs both sides
    there (the GPU check uses it); ``precision`` is glyph's (default: what it picks on the device)."""
    from .reference import on_device

    config = make_config(case, overrides)
    glyph = GlyphSteps(config, case.method, data, device=device, precision=precision)
    torch.manual_seed(0)
    reference = on_device(case.method, make_config(case, overrides), glyphs, device)
    r = compare(glyph, reference, budget, rounds)
    gflops = r["glyph_flops"] / r["glyph_step_s"] / 1e9
    out: dict[str, Any] = {  # three significant digits: a slow config's 0.135 img/s must not become 0.1
        "glyph_img_per_s": float(f"{r['glyph_img_per_s']:.3g}"),
        "reference_img_per_s": float(f"{r['reference_img_per_s']:.3g}"),
    }
    fp32 = (precision or glyph_precision(device)) == "fp32"
    target(out, "speedup", r["glyph_img_per_s"] / r["reference_img_per_s"], FP32_RATIO_TARGET if fp32 else
           RATIO_TARGET, True)
    out["images_per_step"] = round(r["images_per_step"], 1)
    out["glyph_step_s"] = round(r["glyph_step_s"], 4)
    out["reference_step_s"] = round(r["reference_step_s"], 4)
    out["gflop_per_step"] = round(r["glyph_flops"] / 1e9, 2)
    # The reference must do the same work; a difference means it is not the same recipe.
    out["reference_gflop_per_step"] = round(r["reference_flops"] / 1e9, 2)
    out["glyph_gflops"] = round(gflops, 1)
    if case.peak_target:
        target(out, "peak_percent", 100 * gflops / peak, PEAK_TARGET, True, 1)
    else:
        out["peak_percent"] = round(100 * gflops / peak, 1)
    target(out, "batch_percent", 100 * r["batch_share"], BATCH_TARGET, False, 2)
    out["glyph_first_step_s"] = round(r["glyph_first_step_s"], 4)
    out["reference_first_step_s"] = round(r["reference_first_step_s"], 4)
    out["timed_steps"] = (f"{r['rounds']} x {r['steps_per_round']}" if r["rounds"]
                          else f"the warm-up, {r['steps_per_round']}")
    return out


def pick(names: list[str] | None) -> list[Case]:
    """The cases named (all for None), in suite order; an unknown name is a ValueError listing the choices."""
    unknown = set(names or ()) - {c.name for c in CASES}
    if unknown:
        raise ValueError(f"unknown method case(s) {', '.join(sorted(unknown))}; choose from "
                         f"{', '.join(c.name for c in CASES)}")
    return [c for c in CASES if names is None or c.name in names]


# Left out of the fp32 rows on a CPU with native bf16: 80-100 s a step on the development machine, and the
# progan-cpu case measures the same networks' fp32 step.
FP32_SKIP = ("progan",)


def run(quick: bool = False, methods: list[str] | None = None) -> dict:
    """The suite; ``methods`` picks cases by name (default all), ``quick`` times one step once (a smoke run).

    Where the CPU computes bf16 natively (glyph trains in bf16 there), every case is measured twice: in bf16, and
    in fp32 as a CPU without bf16 (most laptops) trains, as rows ``CASE fp32``; elsewhere glyph trains in fp32 and
    the one set of rows is that.
    """
    from glyph.data.sources import open_dataset

    from .peak import peak_gflops
    from .reference import write_pngs

    cases = pick(methods)
    precision = glyph_precision()
    precisions = [precision] + (["fp32"] if precision != "fp32" else [])
    peaks = {p: peak_gflops(torch.bfloat16 if p == "bf16" else torch.float32, quick)[0] for p in precisions}
    out: dict[str, Any] = {"precision": precision, **{f"{p}_peak_gflops": round(v, 1) for p, v in peaks.items()},
                           "threads": torch.get_num_threads()}
    data = open_dataset("embedded")
    with tempfile.TemporaryDirectory() as tmp:
        glyphs = write_pngs(data, Path(tmp))
        out["reference_png_files"] = len(glyphs.files) + len(glyphs.chars)
        for p in precisions:
            for case in cases:
                if p != precision and case.name in FP32_SKIP:
                    continue
                name = case.name if p == precision else f"{case.name} {p}"
                print(f"methods: {name} ...", file=sys.stderr, flush=True)  # a full run takes minutes
                t = time.perf_counter()
                numbers = measure(case, data, glyphs, peaks[p], budget=2.0 if quick else 45.0,
                                  rounds=1 if quick else 3, precision=p)
                numbers["suite_seconds"] = round(time.perf_counter() - t, 1)
                out.update({f"{name}.{k}": v for k, v in numbers.items()})
    return out
