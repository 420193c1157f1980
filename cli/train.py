"""``glyph train METHOD``: config layering, run folders, resume, and torchrun for several processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from glyph.errors import GlyphError
from glyph.paths import check_output_dir

from . import console
from .console import info
from .options import COUNT, SIZE, bounded


class PrecisionOpt(StrEnum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


def parse_sets(items: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``key=value`` items -> (method overrides, train overrides); ``train.key=value`` goes to the loop."""
    method, train = {}, {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GlyphError(f"--set {item!r}: expected key=value, e.g. --set lr=0.0002 or --set train.log_every=10")
        key = key.strip()
        if key.startswith("train."):
            train[key[6:]] = value.strip()
        else:
            method[key] = value.strip()
    return method, train


def read_config_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A TOML file: top-level keys override the method's Config, a [train] table the loop's."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise GlyphError(f"--config {path}: no such file") from None
    except IsADirectoryError:
        raise GlyphError(f"--config {path} is a folder; give a TOML file") from None
    except OSError as e:
        raise GlyphError(f"--config {path} cannot be read ({e.strerror or e})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise GlyphError(f"--config {path} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); give "
                         f"a TOML file saved as UTF-8, e.g. lr = 0.0002 and a [train] table") from None
    except ValueError as e:  # TOMLDecodeError, or an integer too long to convert (Python's 4,300-digit limit)
        raise GlyphError(f"--config {path}: not valid TOML ({str(e).splitlines()[0][:200]})") from None
    train = data.pop("train", {})
    if not isinstance(train, dict):
        raise GlyphError(f"--config {path}: 'train' must be a table ([train])")
    return data, train


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

    child = subprocess.Popen(cmd)
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
    precision: PrecisionOpt = typer.Option(None, help="auto (bf16 where native, else fp32), fp32, bf16, fp16 (CUDA)"),
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
    from glyph.config import apply_overrides
    from glyph.data.sources import open_dataset
    from glyph.device import bf16_is_fast, resolve_device, validate_device_spec
    from glyph.distributed import from_env
    from glyph.loader import get_registry
    from glyph.train import Trainer, train_config_from

    entry = get_registry().method(method)
    cls = entry.obj
    if not cls.trainable:
        raise GlyphError(f"method '{method}' does not train (it has no networks); use `glyph run {method}`")
    run_dir = out or Path("runs") / method
    from glyph.checkpoint import RunDir

    run = RunDir(run_dir)
    check_output_dir(run_dir, "--out", new=False)  # a file there, or no permission: say so before training
    if from_env().main:  # (the other ranks of a torchrun would see their own rank 0's lock)
        run.check_unlocked()  # another trainer writes there now: say so first; Trainer.fit takes the lock
    method_over, train_over = parse_sets(set_ or [])
    if resume:
        if not run.exists():
            raise GlyphError(f"--resume: {run_dir} holds no run; start one without --resume")
        if preset or config or method_over or train_over or batch:
            raise GlyphError("a resumed run keeps its config; only --steps (to extend it), --device, --precision "
                             "and --minutes may change")
        saved = run.read_config(method, require=("config", "train", "data"))
        cfg = apply_overrides(cls.Config(), saved["config"], f"{run_dir}/config.json")
        tcfg = train_config_from(saved["train"], f"{run_dir}/config.json (train table)")
        if steps is not None:
            cfg = apply_overrides(cfg, {"steps": steps}, "--steps")
        data = data or saved["data"]["source"]
    else:
        if run.exists():
            raise GlyphError(f"{run_dir} already holds a run; add --resume to continue it or choose another --out")
        data = data or cls.default_data
        if not data:
            raise GlyphError("--data is required: a dataset folder, a .safetensors file, or 'embedded'")
        cfg = cls.Config()
        presets = entry.catalogue.get("presets") or {}
        if preset:
            if preset not in presets:
                from glyph.errors import did_you_mean

                raise GlyphError(f"method '{method}' has no preset '{preset}'{did_you_mean(preset, presets)}; presets: "
                                 f"{', '.join(presets) or 'none'}")
            cfg = apply_overrides(cfg, presets[preset], f"preset '{preset}'")
        file_train: dict[str, Any] = {}
        if config:
            file_method, file_train = read_config_file(config)
            cfg = apply_overrides(cfg, file_method, f"--config {config}")
        cfg = apply_overrides(cfg, method_over, "--set")
        cfg = apply_overrides(cfg, {k: v for k, v in (("steps", steps), ("batch", batch)) if v is not None}, "option")
        tcfg = train_config_from({**file_train, **train_over})
    if precision is not None:
        tcfg.precision = precision.value
    if compile_ is not None:
        tcfg.compile = compile_
    d = from_env()
    spec = validate_device_spec(device) if device else console.STATE.device
    dev = resolve_device(spec)
    if d.enabled and dev.type == "cuda":
        dev = resolve_device(f"cuda:{d.local_rank}")
    if tcfg.precision == "bf16" and dev.type == "cpu" and not bf16_is_fast(dev):
        console.warn("this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 autocast is emulated and several "
                     "times slower than fp32 here; drop --precision bf16 (auto picks fp32)")
    if console.STATE.seed is not None and not resume:
        tcfg.seed = console.STATE.seed
    dataset = open_dataset(data, layout, size=size)
    if resume and dataset.fingerprint() != saved["data"]["fingerprint"]:
        raise GlyphError(f"the data at {data} is not the data this run started with (fingerprint differs); "
                         f"give the original with --data")
    from .progress import TrainProgress

    trainer = Trainer(cls(cfg), dataset, run_dir, tcfg, dev, quiet=console.STATE.quiet, data_source=str(data),
                      minutes=minutes, on_note=console.warn, display=TrainProgress(console.STATE.quiet))
    try:
        reason = trainer.fit(resume=resume)
    finally:
        from glyph.distributed import shutdown

        shutdown()
    if reason == "interrupted":
        import signal

        sig = trainer.stop_signal or signal.SIGINT
        what = "stopped by SIGTERM" if sig == signal.SIGTERM else "interrupted"
        if d.main:
            console.error(f"{what} at step {trainer.step_no}; checkpoint saved. Resume with: glyph train {method} "
                          f"--out {run_dir} --resume")
        raise typer.Exit(128 + int(sig))  # 130 for Ctrl-C, 143 for SIGTERM, as the shell reports them
    if reason == "budget":
        if d.main:
            info(f"stopped at the {minutes:g}-minute budget after step {trainer.step_no} of {cfg.steps}; checkpoint "
                 f"saved. Resume with: glyph train {method} --out {run_dir} --resume (add --minutes N for another "
                 f"budget; it resumes exactly, on a CPU or a GPU)")
        return
    if d.main:
        info(f"trained {method} for {trainer.step_no} steps into {run_dir}; use it with: glyph run {method} "
             f"--weights {run_dir}")


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
    from glyph.checkpoint import RunDir, export_inference
    from glyph.loader import get_registry

    src = RunDir(run)
    config = src.read_config()
    cls = get_registry().method(config["method"]).obj
    if out.exists() and any(out.iterdir()):
        raise GlyphError(f"{out} exists and is not empty; choose a new folder")
    ckpt = None
    if checkpoint == "best":
        ckpt = src.best_checkpoint()
        if ckpt is None:
            raise GlyphError(f"{run} has no best checkpoint (train with evaluation enabled)")
    elif checkpoint:
        ckpt = src.ckpt_root / checkpoint
        if not ckpt.is_dir():
            raise GlyphError(f"{run} has no checkpoint {checkpoint}; see {src.ckpt_root}")
    parts = cls.inference_parts if cls.inference_parts is not None else cls.parts
    written = export_inference(run, out, tuple(parts), half=not full, checkpoint=ckpt, max_file_mb=max_file_mb)
    size = sum(p.stat().st_size for p in written) / 1e6
    files = f", {len(written) - 1} weight files" if len(written) - 1 > len(parts) else ""
    info(f"wrote {out} ({', '.join(parts)}; {size:.1f} MB{files}); use it with: glyph run {config['method']} "
         f"--weights {out}")


def install(app: typer.Typer) -> None:
    """Add ``glyph train`` and ``glyph export``."""
    app.command("train")(train)
    app.command("export")(export)


