"""The CPU a user has: dsfgan writing and adapting with glyph's defaults, one thread and torch's own threading, on a
quiet CPU and on one that another process shares, in fp32 and (where it is native) bf16.

Each number comes from a fresh process, because OpenMP reads its wait policy once, when torch loads it:

- ``defaults``: ``import glyph`` first, as the CLI and a user do: passive waiting, as many threads as the usable
  CPUs (glyph.threads);
- ``one-thread``: the same with ``--threads 1`` (``glyph.threads.configure(1)``);
- ``torch-own``: torch imported before glyph, so its threads spin as they do out of the box (how glyph ran before
  it chose its threads), with the usable CPUs' count.

``shared`` runs each beside a busy-loop process pinned to the first CPU (another program keeping one core busy).
What is measured, after a warm-up in the same process:

- write: ``glyph.load("dsfgan", precision=P).write("example:handwriting", text)`` of 500 GB2312 characters (64 with
  ``--quick``), characters per second of the whole call (references normalised, templates, the generator, the
  images);
- adapt: the adaptation on the 8 named references of ``example:handwriting`` as ``--adapt`` runs it, within its
  own budget (150 steps or 60 s; its early stop switched off, so that every step it can take is counted; 6 steps
  with ``--quick``), after a warm-up: the steps it took, the seconds, the thread count its tuner settled on;
- font (not with ``--quick``): defaults, quiet: GB2312-1's 3,755 characters written with ``write`` (as ``glyph run
  dsfgan --charset gb2312-1`` writes them), then traced into an OpenType font with ``glyph.font.build_font``.

Targets (issue 3.1, for a 2-core CPU without bf16, so on fp32 rows): writing >= 100 characters/s; the full 150
adaptation steps within 60 s on a quiet CPU and >= 100 on a shared one; a GB2312-1 font written in under 40 s;
and, shared, the defaults at least 0.9x as fast as one thread for writing and adapting.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

WRITE_TARGET = 100.0  # characters/s, fp32
STEPS_QUIET, STEPS_SHARED = 150, 100  # adaptation steps within its 60 s, fp32
FONT_TARGET = 40.0  # seconds to write GB2312-1's 3,755 characters, fp32
SHARED_RATIO = 0.9  # defaults over one thread on a shared CPU
CONFIGS = ("defaults", "one-thread", "torch-own")


def _worker(config: str, what: str, precision: str, quick: bool) -> dict[str, float]:
    """Run in a fresh process by :func:`measure`: one measurement, as a dict."""
    if config == "torch-own":
        import torch  # before glyph: OpenMP keeps its own wait policy (spinning)
    import glyph

    glyph.threads.configure(1 if config == "one-thread" else None)
    import torch

    if what == "write":
        from glyph.data.charsets import load_charset

        text = "".join(load_charset("gb2312-1").chars[:64 if quick else 500])
        hand = glyph.load("dsfgan", device="cpu", precision=precision)
        hand.write("example:handwriting", text[:32])  # warm-up: kernels chosen, the generator folded
        best = 0.0
        for _ in range(1 if quick else 2):
            t = time.perf_counter()
            hand.write("example:handwriting", text)
            best = max(best, len(text) / (time.perf_counter() - t))
        return {"chars_per_s": best, "threads": float(torch.get_num_threads())}
    if what == "adapt":
        hand = glyph.load("dsfgan", device="cpu", precision=precision)
        images, templates, chars = _references()
        hand.adapt(images, templates, steps=2, seconds=1e9, chars=chars, precision=precision)  # warm-up
        # The adaptation as a user gets it: its own budget (150 steps or 60 s), its own stopping rule switched
        # off so that the steps it can take are what is counted.
        from glyph.plugins.dsfgan import adapt as A

        A.PATIENCE = 10**6
        t = time.perf_counter()
        report = hand.adapt(images, templates, steps=6 if quick else None, chars=chars, precision=precision)
        seconds = time.perf_counter() - t
        return {"s_per_step": seconds / report["steps"], "steps_done": report["steps"], "seconds": seconds,
                "threads": float(torch.get_num_threads()), "tuned_threads": report.get("threads", 0.0)}
    if what == "font":
        import numpy as np

        from glyph.data.charsets import load_charset
        from glyph.font import build_font

        text = "".join(load_charset("gb2312-1").chars)
        hand = glyph.load("dsfgan", device="cpu", precision=precision)
        hand.write("example:handwriting", text[:32])
        t = time.perf_counter()
        pages = hand.write("example:handwriting", text)
        written = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            build_font({ch: 1.0 - np.asarray(img, np.float32) / 255 for ch, img in pages.items()},
                       f"{tmp}/hand.otf", "Bench Hand")
            traced = time.perf_counter() - t
        return {"chars": float(len(pages)), "write_s": written, "font_s": traced}
    raise ValueError(what)


def _references() -> tuple[Any, Any, str]:
    """The bundled example writer's references with their templates, prepared as ``--adapt`` prepares them."""
    import numpy as np
    import torch

    from glyph.data.refs import load_references
    from glyph.data.templates import template_glyphs
    from glyph.geometry import to_template_frame
    from glyph.resources import resolve_input

    refs = load_references(resolve_input("example:handwriting"), size=64)
    found = template_glyphs(list(refs.chars)).glyphs
    images = to_template_frame(torch.from_numpy(refs.images).unsqueeze(1))
    templates = torch.from_numpy(np.stack([found[c] for c in refs.chars])).unsqueeze(1)
    return images, templates, "".join(refs.chars)


@contextlib.contextmanager
def busy_core(on: bool) -> Iterator[None]:
    """A busy-loop process pinned to the first usable CPU while the block runs (when ``on``)."""
    if not on:
        yield
        return
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    pin = (lambda: os.sched_setaffinity(0, {cpus[0]})) if hasattr(os, "sched_setaffinity") else None
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=pin)
    try:
        time.sleep(0.5)
        yield
    finally:
        proc.kill()
        proc.wait()


def measure(config: str, what: str, precision: str, shared: bool, quick: bool) -> dict[str, float]:
    """One measurement in a fresh process (beside a busy core when ``shared``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GLYPH_THREADS")}
    code = (f"import json, bench.cpu as b; print(json.dumps(b._worker({config!r}, {what!r}, {precision!r}, "
            f"{quick!r})))")
    with busy_core(shared):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"bench cpu worker {config} {what} {precision} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict[str, Any]:
    """The suite (see the module docstring); ``quick`` writes 64 characters and times 6 adaptation steps."""
    import torch

    from glyph.device import bf16_is_fast
    from glyph.threads import usable_cpus

    from .methods import target
    from .peak import NO_NATIVE_BF16

    precisions = ["fp32", *(["bf16"] if bf16_is_fast(torch.device("cpu")) else [])]
    out: dict[str, Any] = {"usable_cpus": usable_cpus(),
                           "bf16": "native" if len(precisions) > 1 else NO_NATIVE_BF16}
    for precision in precisions:
        for shared in (False, True):
            load = "shared" if shared else "quiet"
            for config in CONFIGS:
                case = f"{precision} {load} {config}"
                print(f"cpu: {case} ...", file=sys.stderr, flush=True)
                w = measure(config, "write", precision, shared, quick)
                a = measure(config, "adapt", precision, shared, quick)
                out[f"{case}.threads"] = int(w["threads"])
                out[f"{case}.write_chars_per_s"] = round(w["chars_per_s"], 1)
                out[f"{case}.adapt_s_per_step"] = round(a["s_per_step"], 3)
                out[f"{case}.adapt_steps"] = int(a["steps_done"])  # within the 60 s budget, at most 150
                out[f"{case}.adapt_s"] = round(a["seconds"], 1)
                out[f"{case}.adapt_threads_chosen"] = int(a["tuned_threads"])
            base = f"{precision} {load} "
            for what, key in (("write", "write_chars_per_s"), ("adapt", "adapt_s_per_step")):
                ratio = out[base + f"defaults.{key}"] / out[base + f"one-thread.{key}"]
                if what == "adapt":
                    ratio = 1 / ratio  # seconds per step: fewer is faster
                if shared:
                    target(out, f"{precision}_shared_{what}_defaults_over_one_thread", ratio, SHARED_RATIO, True)
                else:
                    out[f"{precision}_quiet_{what}_defaults_over_one_thread"] = round(ratio, 2)
    quiet, shared = "fp32 quiet defaults.", "fp32 shared defaults."
    target(out, "fp32_write_chars_per_s", out[quiet + "write_chars_per_s"], WRITE_TARGET, True, 1)
    target(out, "fp32_adapt_steps_in_60s_quiet", out[quiet + "adapt_steps"], STEPS_QUIET, True, 0)
    target(out, "fp32_adapt_steps_in_60s_shared", out[shared + "adapt_steps"], STEPS_SHARED, True, 0)
    if not quick:
        for precision in precisions:
            print(f"cpu: GB2312-1 font, {precision} ...", file=sys.stderr, flush=True)
            f = measure("defaults", "font", precision, False, quick)
            out[f"{precision}_gb2312_1_characters"] = int(f["chars"])
            if precision == "fp32":
                target(out, "fp32_gb2312_1_write_s", f["write_s"], FONT_TARGET, False, 1)
            else:
                out[f"{precision}_gb2312_1_write_s"] = round(f["write_s"], 1)
            out[f"{precision}_gb2312_1_trace_s"] = round(f["font_s"], 1)
    return out
