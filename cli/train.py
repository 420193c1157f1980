"""``glyph train METHOD``: config layering, run folders, resume, and torchrun for several processes."""

from __future__ import annotations

import os
import subprocess
import sys
from enum import StrEnum
from pathlib import Path

import typer

from glyph.device import PRECISION_HELP, PRECISIONS

from . import console
from .console import info
from .options import COUNT, SIZE, bounded

PrecisionOpt = StrEnum("PrecisionOpt", {p: p for p in PRECISIONS})  # Typer shows the choices of an Enum


def _nproc(args: list[str], n: int) -> None:
    """Re-launch this command under torchrun with ``n`` processes on this machine."""
    rest, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        rest.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", "-m", "glyph",
           *rest]
    info("launching: " + " ".join(cmd[1:]))
    import signal

    from glyph.threads import child_environment

    child = subprocess.Popen(cmd, env=child_environment(n))  # torchrun gives each worker its share of the CPUs
    # Ctrl-C reaches torchrun and its workers from the terminal already; a SIGTERM sent to this process alone
    # (`docker stop`, `kill PID`) is passed on, so the workers save and stop as they do without --nproc.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
    code = child.wait()
    raise typer.Exit(128 - code if code < 0 else code)  # killed by a signal: as a shell reports it


def train(
    method: str = typer.Argument(..., help="method name (see `glyph list`)"),
    data: str = typer.Option(None, "--data", help="dataset: folder, .safetensors file or 'embedded' (on resume: "
                             "the run's own data by default)"),
    preset: str = typer.Option(None, help="a named preset of the method (see `glyph info METHOD`)"),
    config: Path = typer.Option(None, "--config", help="TOML file: method fields at the top level, loop fields "
                                "in a train table"),
    set_: list[str] = typer.Option(None, "--set", help="override: key=value (method) or train.key=value (loop)"),
    steps: int = typer.Option(None, help="total optimisation steps", callback=COUNT),
    batch: int = typer.Option(None, help="batch size per process", callback=COUNT),
    out: Path = typer.Option(None, "--out", help="run folder (default runs/METHOD)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its latest checkpoint"),
    device: str = typer.Option(None, help="override the global --device"),
    precision: PrecisionOpt = typer.Option(None, help=PRECISION_HELP),
    compile_: bool = typer.Option(None, "--compile/--no-compile", help="torch.compile the networks"),
    nproc: int = typer.Option(None, help="train with N processes on this machine (runs torchrun for you)",
                               callback=bounded(1, 1024)),
    layout: str = typer.Option(None, help="layout of --data when it is a folder (default: detected)"),
    size: int = typer.Option(None, help="resize folder images to this size", callback=SIZE),
    minutes: float = typer.Option(None, "--minutes", help="wall-clock budget: stop after the step that ends past N "
                                  "minutes, save, and print the command that resumes (for borrowed machines)",
                                  callback=bounded(0, above=True)),
) -> None:
    """Train a method; writes a run folder that `glyph run METHOD --weights RUN` loads."""
    if nproc and nproc > 1 and "WORLD_SIZE" not in os.environ:
        _nproc(sys.argv[1:], nproc)
    import signal

    import glyph
    from glyph.config import parse_sets
    from glyph.distributed import from_env

    from .progress import TrainProgress

    method_over, train_over = parse_sets(set_ or [])
    result = glyph.train(method, data, out=out, preset=preset, config=config, overrides=method_over,
                         train_overrides=train_over, steps=steps, batch=batch, resume=resume,
                         device=device or console.STATE.device, precision=precision.value if precision else None,
                         compile=compile_, layout=layout, size=size, minutes=minutes, seed=console.STATE.seed,
                         display=TrainProgress(console.STATE.quiet), on_note=console.warn)
    if not from_env().main:
        return
    again = f"glyph train {method} --out {result.run} --resume"
    if result.reason == "interrupted":
        sig = result.signal or signal.SIGINT
        what = "stopped by SIGTERM" if sig == signal.SIGTERM else "interrupted"
        console.error(f"{what} at step {result.step}; checkpoint saved. Resume with: {again}")
        raise typer.Exit(128 + int(sig))  # 130 for Ctrl-C, 143 for SIGTERM, as the shell reports them
    if result.reason == "budget":
        info(f"stopped at the {minutes:g}-minute budget after step {result.step} of {result.steps}; checkpoint "
             f"saved. Resume with: {again} (add --minutes N for another budget; it resumes exactly, on a CPU or a "
             f"GPU)")
        return
    info(f"trained {method} for {result.step} steps into {result.run}; use it with: glyph run {method} "
         f"--weights {result.run}")


def export(
    run: Path = typer.Argument(..., help="a run folder of glyph train"),
    out: Path = typer.Option(..., "--out", "-o", help="new folder for the slim run"),
    full: bool = typer.Option(False, "--full", help="keep fp32 (default: fp16, half the size)"),
    checkpoint: str = typer.Option(None, help="a checkpoint of the run (step-NNNNNN or best; default: the latest)"),
    max_file_mb: float = typer.Option(None, "--max-file-mb", help="split each part's weights into files of at most "
                                      "N MB (for transfer limits); the folder loads the same",
                                      callback=bounded(0, above=True)),
) -> None:
    """Write the weights a run needs to generate (EMA, no discriminator, no optimizer) as a slim run folder."""
    from glyph.api import export as export_run

    done = export_run(run, out, half=not full, checkpoint=checkpoint, max_file_mb=max_file_mb)
    weight_files = len(done.files) - 1
    files = f", {weight_files} weight files" if weight_files > len(done.parts) else ""
    info(f"wrote {out} ({', '.join(done.parts)}; {done.megabytes:.1f} MB{files}); use it with: glyph run "
         f"{done.method} --weights {out}")


def install(app: typer.Typer) -> None:
    """Add ``glyph train`` and ``glyph export``."""
    app.command("train")(train)
    app.command("export")(export)
