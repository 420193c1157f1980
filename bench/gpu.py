"""The GPU check: everything glyph does, run and measured on a CUDA GPU in one command of at most ~8 minutes.

::

    python -m bench gpu                  # on a GPU machine: bench/results/gpu.json and tables
    python -m bench gpu --out $OUT       # ... the JSON where a borrowed machine sends files back
    python -m bench gpu --dry-run        # the same code on the CPU at tiny presets, in a minute (the suite runs it)

It needs only what a GPU machine's own PyTorch (2.4 or newer) and glyph installed with ``pip install --no-deps
-e .`` give, no network and no CJK fonts: data is ``embedded`` unless ``--data PACK`` names a carried pack.
Sections, in this order, each recorded even when another fails (its error is the value) and skipped once the
budget (``--minutes``, default 8) is spent:

1. ``env``: the GPU, its memory, PyTorch and CUDA versions, what ``--precision auto`` picks there.
2. ``peak``: the measured matmul rate in bf16 and fp32 (the yardstick of every share below).
3. ``tests``: the suite's tests marked ``cuda`` (tests/test_cuda.py), through pytest.
4. ``cli.<method>``: for every trainable method, ``glyph train`` a few dozen steps at its default preset with
   ``--precision auto``, ``--resume`` to twice the steps, ``glyph run`` from the result and from the shipped
   weights, the trainer's images/s and the GPU memory peak; ``glyph eval`` on the GPU from the dcgan run.
5. ``speed.<case>``: glyph's training step against the plain fp32 PyTorch reference of :mod:`bench.reference`
   on the same GPU, as :mod:`bench.methods` measures them on a CPU: the ratio (target >= 1.8x), GFLOP/s and
   share of the bf16 peak, memory peak.
6. ``large.<preset>``: the large presets (ddpm ``ganji``, progan at published widths, dsfgan ``paper``), each step
   as glyph runs it and with what could make it faster on a GPU: a 4x batch, fused Adam, ``torch.compile``
   (its compile time reported); the best share of the bf16 peak against the 40 % target, and where the GPU time
   goes (the profiler's top operators).
7. ``sample``: ddpm DDIM-50 images/s and dsfgan characters/s with the shipped weights.

They run in the order 1, 2, 4, 5, 6, 7, 3: what must work first, the tests (which repeat some of it through
subprocesses) with what time is left.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

LARGE_TARGET = 40.0  # percent of the measured bf16 matmul rate, for the large presets
TRAIN_STEPS = 30  # steps of `glyph train` per method (then resumed to twice that)
RUN_ARGS: dict[str, list[str]] = {  # `glyph run METHOD ...` for each method, output appended
    "dcgan": ["--n", "64"], "vae": ["--n", "64"], "progan": ["--n", "64"], "ddpm": ["--steps", "50", "--n", "64"],
    "dsfgan": ["--refs", "example:handwriting", "--n-refs", "4", "--text", "永和九年岁在癸丑"],
    "restorecae": ["--input", "example:inscription/damaged"],
}
GRID_METHODS = ("dcgan", "vae", "progan", "ddpm")  # these write one grid image; the others a folder
LARGE = (("ddpm-ganji", "ddpm", "ganji"), ("progan-published", "progan", None), ("dsfgan-paper", "dsfgan", "paper"))


class Budget:
    """Wall-clock budget of the whole check: sections that would start after it is spent are skipped."""

    def __init__(self, minutes: float) -> None:
        self.end = time.monotonic() + minutes * 60

    def left(self) -> float:
        """Seconds left."""
        return self.end - time.monotonic()


def guarded(results: dict[str, Any], key: str, budget: Budget, fn: Callable[[], dict[str, Any]],
            need_s: float = 0.0) -> None:
    """Run one section into ``results[key.*]``: its error as the value when it fails, a note when the budget
    does not leave ``need_s`` seconds for it. One failing piece never hides the others' numbers."""
    if budget.left() < need_s:
        results[f"{key}.skipped"] = f"budget spent ({budget.left():.0f} s left, about {need_s:.0f} s needed)"
        return
    t = time.perf_counter()
    try:
        values = fn()
    except Exception as e:  # the check reports what broke and goes on
        values = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]}
    values["seconds"] = round(time.perf_counter() - t, 1)
    results.update({f"{key}.{k}": v for k, v in values.items()})


def glyph_cli(*args: str) -> tuple[int, str]:
    """Run the ``glyph`` command in this process (so its GPU memory is measurable); (exit code, stderr)."""
    from glyph.cli.main import main

    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(list(args))
        except SystemExit as e:
            code = int(e.code or 0) if not isinstance(e.code, str) else 1
    return code, err.getvalue()


def _check(code: int, err: str, what: str) -> None:
    if code != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        raise RuntimeError(f"{what} exited {code}: {lines[-1] if lines else 'no message'}")


def memory_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def memory_peak_mb(device: torch.device) -> float | str:
    """The GPU memory PyTorch allocated at most since :func:`memory_reset`, in MB."""
    if device.type != "cuda":
        return "n/a (CPU)"
    return round(torch.cuda.max_memory_allocated(device) / 1e6, 1)


# ---- sections ----------------------------------------------------------------------------------------------
def environment(device: torch.device) -> dict[str, Any]:
    from glyph.device import auto_precision

    out: dict[str, Any] = {"device": str(device), "torch": torch.__version__, "cuda": torch.version.cuda or "none",
                           "precision_auto": auto_precision(device)}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        out.update({"gpu": p.name, "memory_gb": round(p.total_memory / 1e9, 1),
                    "capability": f"{p.major}.{p.minor}", "multiprocessors": p.multi_processor_count})
    else:
        import platform

        out["gpu"] = f"none (dry run on a CPU: {platform.processor() or platform.machine()})"
    return out


def matmul_tflops(device: torch.device, dtype: torch.dtype, n: int, repeat: int = 10) -> float:
    """Mean TFLOP/s of ``repeat`` n x n x n matmuls in ``dtype`` on ``device`` after three warm-ups."""
    g = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dtype)
    b = torch.randn(n, n, generator=g).to(device, dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(repeat):
        a @ b
    sync(device)
    return 2 * n**3 * repeat / (time.perf_counter() - t) / 1e12


def peak(device: torch.device, dry: bool) -> dict[str, Any]:
    sizes = (256,) if dry else (4096, 8192)
    out: dict[str, Any] = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        if dry and dtype == torch.bfloat16:
            from glyph.device import bf16_is_fast

            if not bf16_is_fast(device):
                out["bf16_tflops"] = round(matmul_tflops(device, torch.float32, 256, 2), 4)  # a stand-in
                continue
        out[f"{name}_tflops"] = round(max(matmul_tflops(device, dtype, n, 2 if dry else 10) for n in sizes), 4)
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cuda_tests(dry: bool, seconds: float = 300.0) -> dict[str, Any]:
    """tests/test_cuda.py through pytest within ``seconds`` (a dry run only collects them: they need a GPU)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    args = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "tests/test_cuda.py"]
    if dry:
        args.append("--collect-only")
    try:
        proc = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=max(30.0, seconds))
    except subprocess.TimeoutExpired as e:
        done = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return {"exit_code": "timed out", "summary": f"stopped at the budget after: {done.strip()[-200:]}"}
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return {"exit_code": proc.returncode, "summary": lines[-1] if lines else proc.stderr.strip()[-200:]}


def cli_method(method: str, device: torch.device, data: str, work: Path, dry: bool) -> dict[str, Any]:
    """``glyph train`` / ``--resume`` / ``glyph run`` (trained and shipped) of one method on ``device``."""
    steps = 2 if dry else TRAIN_STEPS
    run = work / method
    dev = str(device)
    preset = ["--preset", "tiny"] if dry else []
    common = ["--set", f"train.log_every={max(1, steps // 2)}", "--set", "train.sample_every=0",
              "--set", f"train.ckpt_every={steps}"]
    out: dict[str, Any] = {}
    memory_reset(device)
    t = time.perf_counter()
    code, err = glyph_cli("--device", dev, "train", method, "--data", data, "--steps", str(steps), "--out", str(run),
                          "--precision", "auto", *preset, *common)
    _check(code, err, "glyph train")
    out["train_s"] = round(time.perf_counter() - t, 1)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    out["trainer_img_per_s"] = round(metrics[-1]["img/s"], 1)
    out["memory_peak_mb"] = memory_peak_mb(device)
    config = json.loads((run / "config.json").read_text())
    out["batch"] = config["config"].get("batch")
    code, err = glyph_cli("--device", dev, "train", method, "--out", str(run), "--resume", "--steps", str(2 * steps))
    _check(code, err, "glyph train --resume")
    out["resumed_to"] = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    for source, weights in (("trained", ["--weights", str(run)]), ("shipped", [])):
        target = work / f"{method}-{source}{'.png' if method in GRID_METHODS else ''}"
        t = time.perf_counter()
        args = RUN_ARGS[method]
        if dry and method in GRID_METHODS:  # a few samples (and the tiny ddpm's T is 20): the path, not the speed
            args = ["--steps", "2", "--n", "4"] if method == "ddpm" else ["--n", "4"]
        code, err = glyph_cli("--device", dev, "run", method, *weights, *args, "--out", str(target))
        if source == "shipped" and code != 0 and "has no shipped weights" in err:  # left behind to fit a transfer
            out["run_shipped"] = "no shipped weights"
            continue
        _check(code, err, f"glyph run ({source})")
        written = [target] if target.is_file() else list(target.glob("*.png"))
        out[f"run_{source}"] = f"{len(written)} file(s) in {time.perf_counter() - t:.1f} s"
    return out


def cli_eval(device: torch.device, work: Path, dry: bool) -> dict[str, Any]:
    """``glyph eval`` on ``device``, of the dcgan run the CLI section trained."""
    report = work / "eval.json"
    n = 64 if dry else 2048
    t = time.perf_counter()
    code, err = glyph_cli("--device", str(device), "eval", "--real", "embedded", "--fake", f"run:{work / 'dcgan'}",
                          "--n", str(n), "--metrics", "fgd,readable", "--json", str(report))
    _check(code, err, "glyph eval")
    results = json.loads(report.read_text())
    flat = results.get("results", results)
    return {"samples": n, "eval_s": round(time.perf_counter() - t, 1),
            **{k: v for k, v in flat.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}}


def speed(case: Any, device: torch.device, data: Any, glyphs: Any, peak_gflops: float, dry: bool) -> dict[str, Any]:
    """One case of the methods suite on ``device`` (see :func:`bench.methods.measure`)."""
    from .methods import measure

    overrides = None
    if dry:
        from glyph.loader import get_registry

        overrides = get_registry().method(case.method).catalogue["presets"]["tiny"]
    memory_reset(device)
    out = measure(case, data, glyphs, peak_gflops, budget=0.2 if dry else 5.0, rounds=1 if dry else 2,
                  overrides=overrides, device=device)
    out["memory_peak_mb"] = memory_peak_mb(device)
    return out


def sampling(device: torch.device, dry: bool) -> dict[str, Any]:
    """ddpm DDIM-50 images/s and dsfgan characters/s with the shipped weights, on ``device``."""
    from glyph.data.charsets import load_charset
    from glyph.method import RunContext
    from glyph.plugins.ddpm.method import DDPM
    from glyph.plugins.dsfgan.method import DSFGAN
    from glyph.trainer import load_run

    out: dict[str, Any] = {}

    def shipped_or_fresh(cls: Any, preset: str | None) -> Any:
        """The shipped weights, or (where they were left behind to fit a transfer) a fresh network of the
        shipped architecture: speed does not depend on training."""
        folder = cls.shipped_weights()
        if folder is not None:
            return load_run(folder, cls.name, device=device)
        from glyph.config import apply_overrides
        from glyph.loader import get_registry

        entry = get_registry().method(cls.name)
        config = cls.Config()
        if preset:
            config = apply_overrides(config, entry.catalogue["presets"][preset], preset)
        out[f"{cls.name}_weights"] = f"untrained {preset or 'default'} network (no shipped weights here)"
        torch.manual_seed(0)
        method = cls(config)
        for net in method.build().values():
            net.to(device, memory_format=torch.channels_last).eval()
        return method

    ddpm = shipped_or_fresh(DDPM, "cpu")
    batch, steps = (4, 2) if dry else (256, 50)
    noise = torch.randn(batch, 1, ddpm.config.resolution, ddpm.config.resolution,
                        generator=torch.Generator().manual_seed(0))
    for precision in ("fp32", "bf16"):
        ddpm.denoise(noise[:2], "ddim", 2, 0.0, batch=batch, precision=precision)  # warm-up: kernels chosen
        sync(device)
        t = time.perf_counter()
        ddpm.denoise(noise, "ddim", steps, 0.0, batch=batch, precision=precision)
        sync(device)
        out[f"ddpm_ddim{steps}_{precision}_img_per_s"] = round(batch / (time.perf_counter() - t), 2)
    dsfgan = shipped_or_fresh(DSFGAN, "cpu")
    text = "".join(load_charset("gb2312-1").chars[:16 if dry else 1000])
    with tempfile.TemporaryDirectory() as tmp:
        options = {"refs": "example:handwriting", "n_refs": 4}
        dsfgan.run(RunContext(device=str(device), seed=0), text=text[:8], out=Path(tmp) / "warm", **options)
        ctx = RunContext(device=str(device), seed=0)
        t = time.perf_counter()
        dsfgan.run(ctx, text=text, out=Path(tmp) / "run", **options)
        seconds = time.perf_counter() - t
    out["dsfgan_characters"] = int(ctx.report.numbers["characters"])
    out["dsfgan_run_chars_per_s"] = round(ctx.report.numbers["characters"] / seconds, 1)
    return out


def _fused(optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, torch.optim.Optimizer]:
    """The same optimizers (class, groups, hyperparameters) with ``fused=True``."""
    out = {}
    for name, opt in optimizers.items():
        groups = [{**g, "fused": True} for g in opt.param_groups]
        out[name] = type(opt)(groups)
    return out


def _time_steps(steps: Any, n: int) -> tuple[float, float]:
    """(seconds, images) per step over ``n`` steps of a :class:`bench.methods.GlyphSteps` (each waits for the
    GPU)."""
    t = time.perf_counter()
    images = sum(steps.step()[2] for _ in range(n))
    return (time.perf_counter() - t) / n, images / n


def _top_ops(steps: Any, device: torch.device, n: int = 3, top: int = 8) -> list[str]:
    """Where a step's time goes: the profiler's operators with the most self time over ``n`` steps."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(n):
            steps.step()
    events = prof.key_averages()
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    if device.type == "cuda" and not hasattr(events[0], attr):
        attr = "self_cuda_time_total"  # PyTorch < 2.4 names it so
    total = sum(getattr(e, attr) for e in events) or 1.0
    ranked = sorted(events, key=lambda e: getattr(e, attr), reverse=True)[:top]
    return [f"{e.key} {100 * getattr(e, attr) / total:.1f} %" for e in ranked]


def large(name: str, method: str, preset: str | None, device: torch.device, data: Any, peak_gflops: float,
          dry: bool, budget: Budget | None = None) -> dict[str, Any]:
    """One large preset as glyph trains it, and with a 4x batch, fused Adam and torch.compile."""
    from .methods import Case, GlyphSteps, count_flops, make_config

    case = Case(name, method, preset)
    base = {}
    if dry:
        from glyph.loader import get_registry

        base = dict(get_registry().method(method).catalogue["presets"]["tiny"])
        if method == "dsfgan":
            base["backbone"] = "resnet10t"  # the paper's DenseNet-121 takes most of a dry run on a CPU
    config = make_config(case, base or None)
    n = 2 if dry else 10
    out: dict[str, Any] = {}

    def measured(label: str, make: Callable[[], GlyphSteps], flops: float | None = None) -> float | None:
        """Time one variant into ``out[label_*]``; its share of the peak, or None when it failed (recorded)."""
        try:
            steps = make()
            counted, _ = count_flops(steps.step, steps.cycle)  # a warm-up too: cuDNN picks its kernels
            seconds, images = _time_steps(steps, max(n, steps.cycle))
        except Exception as e:  # one variant failing (out of memory, a compile error) leaves the others
            out[f"{label}_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
            return None
        flops = flops or counted  # a compiled step hides its operators from the counter: the base's work
        share = 100 * flops / seconds / 1e9 / peak_gflops
        out[f"{label}_images_per_step"] = round(images, 1)
        out[f"{label}_step_s"] = round(seconds, 4)
        out[f"{label}_img_per_s"] = round(images / seconds, 1)
        out[f"{label}_peak_percent"] = round(share, 1)
        work[label] = steps
        counted_flops[label] = counted
        return share

    def fused() -> GlyphSteps:
        steps = GlyphSteps(config, method, data, device=device)
        steps.bare.optimizers.update(_fused(steps.bare.optimizers))
        return steps

    def compiled() -> GlyphSteps:
        steps = fused()
        for part, net in list(steps.method.nets.items()):
            steps.method.nets[part] = torch.compile(net)
        t = time.perf_counter()
        for _ in range(2 * steps.cycle):  # compiles every graph the step's phases take (and recompiles)
            steps.step()
        out["compile_s"] = round(time.perf_counter() - t, 1)
        return steps

    work: dict[str, Any] = {}  # the variant just measured (dropped before the next, to free its memory)
    counted_flops: dict[str, float] = {}
    memory_reset(device)
    shares = {"base": measured("base", lambda: GlyphSteps(config, method, data, device=device))}
    out["memory_peak_mb"] = memory_peak_mb(device)
    if "base" in work:
        with contextlib.suppress(Exception):  # the profile is a bonus: never lose the numbers to it
            out["top_ops"] = "; ".join(_top_ops(work["base"], device, 2 if dry else 3))
        del work["base"]  # free its memory before the next variant
    shares["fused_adam"] = measured("fused_adam", fused)
    work.clear()
    shares["batch_x4"] = measured("batch_x4", lambda: GlyphSteps(_batch_x4(method, config), method, data,
                                                                  device=device))
    work.clear()
    if dry:
        out["compile"] = "skipped in a dry run (compiling takes minutes on a CPU)"
    elif budget is not None and budget.left() < 120:
        out["compile"] = f"skipped: {budget.left():.0f} s of the budget left, compiling may take minutes"
    else:
        shares["compile_fused"] = measured("compile_fused", compiled, counted_flops.get("base"))
    shares = {k: v for k, v in shares.items() if v is not None}
    if not shares:
        raise RuntimeError("every variant failed: " + "; ".join(str(v) for k, v in out.items() if "error" in k))
    best = max(shares, key=shares.__getitem__)
    out["best"] = best
    out["best_peak_percent"] = round(shares[best], 1)
    out["best_target_met"] = shares[best] >= LARGE_TARGET
    return out


def _batch_x4(method: str, config: Any) -> Any:
    """``config`` with four times the images per step (progan's per-stage batches, dsfgan's targets per writer:
    its writers per batch are capped by the data's writers)."""
    from glyph.config import apply_overrides

    if method == "progan":
        change = {"batches": [4 * int(b) for b in config.batches]}
    elif method == "dsfgan":
        change = {"per_group": 4 * int(config.per_group)}
    else:
        change = {"batch": 4 * int(config.batch)}
    return apply_overrides(config, change, "batch x4")


# ---- the check ---------------------------------------------------------------------------------------------
def run(dry_run: bool = False, data: str = "embedded", minutes: float = 8.0) -> dict[str, Any]:
    """The whole check (see the module docstring); ``dry_run`` runs it on the CPU at tiny presets."""
    from glyph.data.sources import open_dataset
    from glyph.device import resolve_device
    from glyph.errors import GlyphError

    from .methods import CASES, glyph_precision
    from .reference import write_pngs

    if dry_run:
        device = torch.device("cpu")
    else:
        try:
            device = resolve_device("cuda")
        except GlyphError as e:
            raise SystemExit(f"bench gpu: {e}; `python -m bench gpu --dry-run` runs the check on the CPU") from None
    budget = Budget(minutes)
    results: dict[str, Any] = {"mode": "dry run (CPU, tiny presets)" if dry_run else "GPU"}
    guarded(results, "env", budget, lambda: environment(device))
    guarded(results, "peak", budget, lambda: peak(device, dry_run))
    precision = glyph_precision(device)
    peak_gflops = 1e3 * float(results.get(f"peak.{precision}_tflops") or results.get("peak.fp32_tflops") or 1.0)
    results["precision"] = precision
    dataset = open_dataset(data)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for method in RUN_ARGS:  # first what must work; then speed, the large presets, sampling, the tests
            guarded(results, f"cli.{method}", budget, lambda m=method: cli_method(m, device, data, work, dry_run),
                    need_s=20)
        guarded(results, "cli.eval", budget, lambda: cli_eval(device, work, dry_run), need_s=20)
        glyphs = write_pngs(open_dataset("embedded"), work / "pngs")
        # A dry run times two cases: the code is one function for all (tests/test_bench.py checks every case).
        for case in [c for c in CASES if c.name in ("dcgan", "dsfgan")] if dry_run else CASES:
            guarded(results, f"speed.{case.name}", budget,
                    lambda c=case: speed(c, device, dataset, glyphs, peak_gflops, dry_run), need_s=20)
    for name, method, preset in LARGE:
        guarded(results, f"large.{name}", budget,
                lambda n=name, m=method, p=preset: large(n, m, p, device, dataset, peak_gflops, dry_run, budget),
                need_s=45)
    guarded(results, "sample", budget, lambda: sampling(device, dry_run), need_s=20)
    guarded(results, "tests", budget, lambda: cuda_tests(dry_run, budget.left()), need_s=60)
    return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in results.items()}
