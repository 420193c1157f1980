"""Inference speed: ddpm sampling per sampler and step count, and dsfgan characters per second.

ddpm is timed through :meth:`DDPM.sample`, the call ``glyph run ddpm`` makes (as it runs today: fp32, the
network channels_last as ``load_run`` lays it out, no autocast), at a batch of 64, for DDIM with 10, 25, 50 and
100 steps and the 1,000-step ancestral sampler. Every sampler step is one network evaluation at the same cost, so
the long samplers are timed over their first steps and extrapolated to all of them (the result says how many
steps were timed).
DDIM-50 is also timed under bf16 autocast, to show what the sampler would gain, on CPUs with
native bf16 (AVX512-BF16 or AMX; elsewhere it is emulated and far slower, and the row says it was skipped).
With shipped weights (``plugins/ddpm/default``) and ``GLYPH_BENCH_FGD_SAMPLES=N``, the FGD
of N DDIM-50 and N ancestral samples against a real set (``GLYPH_BENCH_REAL``, default ``embedded``) is
computed as ``glyph eval`` does; without weights an untrained network of the ``cpu`` preset (the shipped
architecture) is timed (speed does not depend on training) and FGD is skipped.

dsfgan is timed through its ``run`` verb, the whole of ``glyph run dsfgan --refs example:handwriting --n-refs 4
--text ...``: references normalised from photos, template glyphs, the generator, one PNG per character and the
typeset preview; and the generator alone (:meth:`DSFGAN.stylize`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

SAMPLERS = (("ddim", 10), ("ddim", 25), ("ddim", 50), ("ddim", 100), ("ancestral", 1000))
RATIO_TARGET = 15.0  # DDIM-50 images/s over ancestral-1000's
CHARS_TARGET = 50.0  # dsfgan characters/s


class _Enough(Exception):
    """Raised by :class:`_Budget` once the timed steps are done."""


class _Budget(torch.nn.Module):
    """The sampler's network, stopping the sampler after ``calls`` evaluations (to time a long sampler's steps)."""

    def __init__(self, net: torch.nn.Module, calls: int) -> None:
        super().__init__()
        self.net, self.calls, self.done = net, calls, 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.done == self.calls:
            raise _Enough
        self.done += 1
        return self.net(x, t)


def load_ddpm() -> tuple[Any, bool]:
    """(the ddpm method with its shipped weights as ``glyph run ddpm`` loads them, True), or a freshly built
    network of the ``cpu`` preset (the shipped weights' architecture) and False."""
    from glyph.plugins.ddpm.method import DDPM
    from glyph.trainer import load_run

    from .methods import Case, make_config

    folder = DDPM.shipped_weights()
    if folder is not None:
        return load_run(folder, "ddpm", device="cpu"), True
    method = DDPM(make_config(Case("ddpm-cpu", "ddpm", "cpu")))
    torch.manual_seed(0)
    for net in method.build().values():
        net.to(memory_format=torch.channels_last).eval()  # as load_run lays out a run's networks
    return method, False


def sampler_seconds(method: Any, sampler: str, steps: int, batch: int, timed_steps: int | None = None,
                    bf16: bool = False) -> tuple[float, int]:
    """(seconds to sample ``batch`` images, steps actually timed). With ``timed_steps`` below the sampler's
    length, only that many steps run and the time is scaled to the whole sampler."""
    from glyph.plugins.ddpm.diffusion import ddim_timesteps

    c = method.config
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(batch, c.channels, c.resolution, c.resolution, generator=g)
    total = method.sched.T if sampler == "ancestral" else len(ddim_timesteps(method.sched.T, steps))
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    net = method.nets["unet"]
    try:
        if timed_steps is None or timed_steps >= total:
            t = time.perf_counter()
            with amp:
                method.denoise(noise, sampler, steps, 0.0, g, batch)
            return time.perf_counter() - t, total
        method.nets["unet"] = _Budget(net, timed_steps)
        t = time.perf_counter()
        with contextlib.suppress(_Enough), amp:
            method.denoise(noise, sampler, steps, 0.0, g, batch)
        return (time.perf_counter() - t) * total / timed_steps, timed_steps
    finally:
        method.nets["unet"] = net


def fgd_of_samplers(method: Any, n: int, real: Any, batch: int = 64) -> dict[str, float]:
    """FGD of ``n`` DDIM-50 and ``n`` ancestral samples against ``real``, computed as ``glyph eval`` does."""
    from glyph import GlyphData
    from glyph.eval.metrics import FGD, EvalContext

    ctx = EvalContext()
    out = {}
    for name, sampler, steps in (("ddim50", "ddim", 50), ("ancestral1000", "ancestral", 1000)):
        g = torch.Generator().manual_seed(0)
        c = method.config
        noise = torch.randn(n, c.channels, c.resolution, c.resolution, generator=g)
        images = method.denoise(noise, sampler, steps, 0.0, g, batch)
        fake = GlyphData((images * 255 + 0.5).to(torch.uint8), meta={"ink": "glyph", "source": name})
        out[f"fgd_{name}"] = round(FGD().compute(real, fake, ctx=ctx)["fgd"], 3)
    return out


def ddpm_speeds(method: Any, batch: int, full_up_to: int, timed: int) -> dict[str, Any]:
    """Images/s of every sampler of :data:`SAMPLERS` (samplers longer than ``full_up_to`` steps timed over
    ``timed`` steps), their DDIM-50 / ancestral-1000 ratio, and DDIM-50 under bf16 autocast."""
    from .methods import target

    sampler_seconds(method, "ddim", 1, batch)  # warm-up: the first convolutions choose their kernels
    out: dict[str, Any] = {}
    for sampler, steps in SAMPLERS:
        name = f"{sampler}{steps}"
        seconds, done = sampler_seconds(method, sampler, steps, batch, None if steps <= full_up_to else timed)
        out[f"{name}.img_per_s"] = batch / seconds
        out[f"{name}.timed_steps"] = done
    target(out, "ddim50_over_ancestral1000", out["ddim50.img_per_s"] / out["ancestral1000.img_per_s"],
           RATIO_TARGET, True, 1)
    from glyph.device import bf16_is_fast

    from .peak import NO_NATIVE_BF16

    if not bf16_is_fast(torch.device("cpu")):  # emulated bf16 would take many minutes and say nothing useful
        out["ddim50_bf16"] = NO_NATIVE_BF16
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}
    sampler_seconds(method, "ddim", 1, batch, bf16=True)  # warm-up of the bf16 kernels
    seconds, done = sampler_seconds(method, "ddim", 50, batch, None if 50 <= full_up_to else timed, bf16=True)
    out["ddim50_bf16.img_per_s"] = batch / seconds
    out["ddim50_bf16.timed_steps"] = done
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def ddpm_numbers(quick: bool = False) -> dict[str, Any]:
    """The ddpm half of the suite."""
    method, trained = load_ddpm()
    batch = 8 if quick else 64
    out: dict[str, Any] = {"ddpm_weights": "shipped" if trained else "untrained network of the cpu preset (no "
                           "shipped weights in plugins/ddpm/default; speed does not depend on training)",
                           "ddpm_batch": batch, "ddpm_precision": "fp32 (as glyph run ddpm)"}
    # Samplers longer than DDIM-50 (DDIM-10 in a quick run) are timed over their first steps.
    out.update(ddpm_speeds(method, batch, *((10, 2) if quick else (50, 10))))
    n = int(os.environ.get("GLYPH_BENCH_FGD_SAMPLES", "0") or 0)
    if not trained:
        out["fgd_skipped"] = "no shipped ddpm weights: the FGD of an untrained network means nothing"
    elif n <= 0:
        minutes = (1000 / out["ddim50.img_per_s"] + 1000 / out["ancestral1000.img_per_s"]) / 60
        out["fgd_skipped"] = (f"set GLYPH_BENCH_FGD_SAMPLES=N to compare the samplers' FGD (1,000 samples from "
                              f"each would take about {minutes:.0f} min here)")
    else:
        from glyph.data.sources import open_dataset

        real_src = os.environ.get("GLYPH_BENCH_REAL", "embedded")
        out.update(fgd_of_samplers(method, n, open_dataset(real_src), batch))
        out["fgd_samples"] = n
        out["fgd_real"] = real_src
    return out


def dsfgan_speed(method: Any, text: str, refs: str = "example:handwriting", n_refs: int = 4) -> dict[str, Any]:
    """Characters/s of ``method.run`` writing ``text`` with ``n_refs`` references from ``refs`` (the whole of
    ``glyph run dsfgan``), and of the generator alone."""
    from glyph.data.templates import template_glyphs
    from glyph.method import RunContext

    from .methods import target

    options = {"refs": refs, "n_refs": n_refs}
    with tempfile.TemporaryDirectory() as tmp:
        method.run(RunContext(device="cpu", seed=0), text=text[:8], out=Path(tmp) / "warm", **options)
        ctx = RunContext(device="cpu", seed=0)
        t = time.perf_counter()
        method.run(ctx, text=text, out=Path(tmp) / "run", **options)
        seconds = time.perf_counter() - t
    out: dict[str, Any] = {"dsfgan_characters": int(ctx.report.numbers["characters"]),
                           "dsfgan_references": int(ctx.report.numbers["references"])}
    target(out, "dsfgan_run_chars_per_s", ctx.report.numbers["characters"] / seconds, CHARS_TARGET, True, 1)
    found = template_glyphs(list(text)).glyphs
    templates = torch.from_numpy(np.stack([found[ch] for ch in text if ch in found])).unsqueeze(1)
    t = time.perf_counter()
    method.stylize(templates[:n_refs], templates)  # the generator's cost does not depend on what references show
    out["dsfgan_generator_chars_per_s"] = round(len(templates) / (time.perf_counter() - t), 1)
    return out


def dsfgan_numbers(quick: bool = False) -> dict[str, Any]:
    """The dsfgan half of the suite, with the shipped weights or a freshly built default network."""
    from glyph.data.charsets import load_charset
    from glyph.plugins.dsfgan.method import DSFGAN
    from glyph.trainer import load_run

    folder = DSFGAN.shipped_weights()
    if folder is not None:
        method = load_run(folder, "dsfgan", device="cpu")
    else:
        torch.manual_seed(0)
        method = DSFGAN()
        for net in method.build().values():
            net.to(memory_format=torch.channels_last).eval()  # as load_run lays out a run's networks
    out: dict[str, Any] = {"dsfgan_weights": "shipped" if folder else "untrained default network (no shipped "
                           "weights in plugins/dsfgan/default; speed does not depend on training)"}
    out.update(dsfgan_speed(method, "".join(load_charset("gb2312-1").chars[:32 if quick else 500])))
    return out


def run(quick: bool = False) -> dict:
    """The suite; ``quick`` samples a batch of 8, times long samplers over 2 steps and writes 32 characters."""
    return {**ddpm_numbers(quick), **dsfgan_numbers(quick)}
