"""glyph from Python: load a method ready to use, then call what it can do; images come back.

    import glyph
    hand = glyph.load("dsfgan")                              # the shipped weights, on the best device here
    pages = hand.write("example:handwriting", "永和九年")     # {"永": <PIL.Image>, ...}

What a method can do is declared here as capabilities (typing protocols), so code can ask
``isinstance(m, glyph.Sampler)`` of any method, a third party's included:

- :class:`Sampler`: ``sample(n, seed=...)`` draws new glyphs (dcgan, progan, vae, ddpm);
- :class:`Writer`: ``write(refs, text, ...)`` writes text in the hand of a writer's samples (dsfgan);
- :class:`Restorer`: ``restore(images, chars=...)`` restores damaged glyphs (restorecae).

**The ink convention**: every image these return is a PIL image as a page shows it, dark ink on white paper
(mode ``L``; ``RGB`` for methods trained on colour pictures), at the method's resolution.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import GlyphError

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from .method import Method, RunContext



@runtime_checkable
class Sampler(Protocol):
    """A method that draws new glyphs from nothing."""

    def sample(self, n: int = 16, *, seed: int | None = None) -> list[Image.Image]:
        """``n`` new glyphs; the same ``seed`` gives the same glyphs (as ``glyph --seed S run METHOD``)."""
        ...


@runtime_checkable
class Writer(Protocol):
    """A method that writes text in the hand of a writer's samples."""

    def write(self, refs: str | Path | None, text: str, *, n_refs: int = 16, adapt: bool = False,
              writer: str | Path | None = None, save_writer: str | Path | None = None, seed: int | None = None,
              ctx: RunContext | None = None) -> dict[str, Image.Image]:
        """One image per distinct character of ``text`` it can write, keyed by the character."""
        ...


@runtime_checkable
class Restorer(Protocol):
    """A method that restores damaged glyph images."""

    def restore(self, images: Any, *, chars: str | Sequence[str] | None = None, ink: str = "auto",
                ctx: RunContext | None = None) -> list[Image.Image]:
        """The restored glyph of each input image, in order."""
        ...


def load(method: str, weights: str | Path | None = None, device: str = "auto", precision: str = "auto") -> Method:
    """The method ``method`` ready to use: built, with trained weights on ``device``, in inference mode.

    :param method: a name from ``glyph list`` (a third party's plugin methods too).
    :param weights: a run folder (``glyph train`` or ``glyph export`` output); None: the weights shipped with glyph.
    :param device: ``auto`` (CUDA when present, then MPS, then the CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    :param precision: ``auto`` (bf16 where the device computes it natively, else fp32; fp16 on older CUDA GPUs),
        ``fp32``, ``bf16`` or ``fp16``; methods use it where they can (ddpm's sampling, dsfgan's writing and
        adaptation).
    :raises GlyphError: an unknown method, a method without shipped weights and no ``weights``, a bad device.
    """
    from .device import resolve_device, resolve_precision, validate_device_spec
    from .loader import get_registry
    from .threads import configure

    configure()  # the CPU threads and their wait policy, before torch does any work (glyph.threads)
    entry = get_registry().method(method)
    cls = entry.obj
    dev = resolve_device(validate_device_spec(device))
    concrete = resolve_precision(precision, dev)
    if cls.trainable:
        from .trainer import load_run

        folder = weights if weights is not None else cls.shipped_weights()
        if folder is None:
            raise GlyphError(f"method '{method}' has no shipped weights; train it (glyph train {method} --data ...) "
                             f"and pass weights='runs/{method}'")
        model = load_run(Path(folder).expanduser(), method, device=dev)
    else:
        if weights is not None:
            raise GlyphError(f"method '{method}' has no weights to load; leave out weights=")
        model = cls(cls.Config())
    model.precision = concrete
    return model


def load_for_run(method: str, weights: str | Path | None = None, *, preset: str | None = None, device: str = "auto",
                 precision: str = "auto") -> Method:
    """The method as ``glyph run METHOD`` runs it: one that trains with the weights of ``weights`` (a run folder)
    or the shipped ones, as :func:`load` gives it; one that does not train built from its Config with the named
    ``preset`` (from the catalogue) applied.

    :raises GlyphError: an unknown method or preset, a ``preset`` for a method that trains (its config comes
        from its weights), a method that trains without shipped weights and no ``weights``.
    """
    from .config import apply_overrides
    from .errors import did_you_mean
    from .loader import get_registry

    entry = get_registry().method(method)
    cls = entry.obj
    if cls.trainable:
        if preset is not None:
            raise GlyphError("--preset applies to training; a trained method's config comes from its weights")
        if weights is None and cls.shipped_weights() is None:
            raise GlyphError(f"method '{method}' has no shipped weights; train it with `glyph train {method} "
                             f"--data ...` and pass --weights runs/{method}")
        return load(method, weights, device=device, precision=precision)
    config = cls.Config()
    if preset is not None:
        presets = entry.catalogue.get("presets") or {}
        if preset not in presets:
            raise GlyphError(f"method '{method}' has no preset '{preset}'{did_you_mean(preset, presets)}; "
                             f"presets: {', '.join(presets) or 'none'}")
        config = apply_overrides(config, presets[preset], f"preset '{preset}'")
    return cls(config)


def pil_images(images: torch.Tensor, glyphs: bool = True) -> list[Image.Image]:
    """``[N, C, H, W]`` in [0, 1] (1 = ink when ``glyphs``) -> PIL images as shown: dark ink on white paper."""
    from .generate import to_display
    from .imageio import to_pil

    return [to_pil(a) for a in to_display(images, glyphs)]


def seeded(seed: int | None) -> torch.Generator:
    """The generator every sampler draws from: ``seed`` (0 when None), as ``glyph --seed`` does."""
    import torch

    return torch.Generator().manual_seed(seed if seed is not None else 0)


def check_count(n: int) -> None:
    """Refuse a sample count outside 1..MAX_SAMPLES with a line that says the range."""
    from .generate import MAX_SAMPLES

    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
        raise GlyphError(f"n must be a whole number between 1 and {MAX_SAMPLES:,}, got {n!r}")


@dataclass
class Trained:
    """What :func:`train` did.

    :param reason: ``finished``, ``interrupted`` (Ctrl-C or SIGTERM: ``signal`` says which), ``budget`` (the
        ``minutes`` budget ran out) or ``diverged`` is never returned (it raises).
    """

    method: str
    run: Path
    reason: str
    step: int
    steps: int
    signal: int | None = None


def train(method: str, data: str | Path | None = None, *, out: str | Path | None = None, preset: str | None = None,
          config: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
          train_overrides: Mapping[str, Any] | None = None, steps: int | None = None, batch: int | None = None,
          resume: bool = False, device: str = "auto", precision: str | None = None, compile: bool | None = None,
          layout: str | None = None, size: int | None = None, minutes: float | None = None, seed: int | None = None,
          display: Any = None, on_note: Any = None) -> Trained:
    """Train ``method`` into the run folder ``out`` (default ``runs/METHOD``); ``glyph train`` is this call.

    The method's Config is layered: its defaults, then ``preset``, then the ``config`` TOML file (top-level keys;
    its ``[train]`` table sets the loop), then ``overrides``, then ``steps`` and ``batch``. A resumed run keeps
    its config; only ``steps`` (to extend it), ``device``, ``precision``, ``compile`` and ``minutes`` may change.

    :param data: a dataset folder, a ``.safetensors`` file or ``embedded``; on resume, the run's own by default.
    :param train_overrides: fields of the loop's :class:`glyph.trainer.TrainConfig` (``log_every``...).
    :param precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (CUDA); None keeps the run's or the default.
    :param display: where to show progress (the CLI's bar; see :class:`glyph.trainer.TrainDisplay`); None: silent.
    :param on_note: called with lines the user should know (a stale lock taken over, emulated bf16).
    :raises GlyphError: a bad option, a run folder in use or already holding a run, data that is not the run's.
    """
    from .checkpoint import RunDir
    from .config import apply_overrides, read_config_file
    from .data.sources import open_dataset
    from .device import bf16_is_fast, resolve_device, resolve_precision, validate_device_spec
    from .distributed import from_env
    from .errors import did_you_mean
    from .loader import get_registry
    from .paths import check_output_dir
    from .threads import configure
    from .trainer import Trainer, train_config_from

    configure()  # the CPU threads and their wait policy, before torch does any work (glyph.threads)
    entry = get_registry().method(method)
    cls = entry.obj
    if not cls.trainable:
        raise GlyphError(f"method '{method}' does not train (it has no networks); use `glyph run {method}`")
    run_dir = Path(out) if out is not None else Path("runs") / method
    run = RunDir(run_dir)
    check_output_dir(run_dir, "--out", new=False)  # a file there, or no permission: say so before training
    dist = from_env()
    if dist.main:  # (the other ranks of a torchrun would see their own rank 0's lock)
        run.check_unlocked()  # another trainer writes there now: say so first; Trainer.fit takes the lock
    overrides, train_overrides = dict(overrides or {}), dict(train_overrides or {})
    if resume:
        if not run.exists():
            raise GlyphError(f"--resume: {run_dir} holds no run; start one without --resume")
        if preset or config or overrides or train_overrides or batch:
            raise GlyphError("a resumed run keeps its config; only --steps (to extend it), --device, --precision "
                             "and --minutes may change")
        saved = run.read_config(method, require=("config", "train", "data"))
        if run.never_saved():
            raise GlyphError(f"--resume: the run in {run_dir} never reached its first checkpoint (its start failed "
                             f"or was stopped), so there is nothing to continue; start it again without --resume")
        cfg = apply_overrides(cls.Config(), saved["config"], f"{run_dir}/config.json")
        tcfg = train_config_from(saved["train"], f"{run_dir}/config.json (train table)")
        if steps is not None:
            cfg = apply_overrides(cfg, {"steps": steps}, "--steps")
        data = data or saved["data"]["source"]
    else:
        if run.never_saved() and dist.main:
            # Nothing of it can be resumed: starting over is what the user means (they said neither --resume).
            run.clear_unsaved()
            if on_note is not None:
                on_note(f"{run_dir} held a run that never reached its first checkpoint; starting it over")
        if run.exists():
            raise GlyphError(f"{run_dir} already holds a run; add --resume to continue it or choose another --out")
        data = data or cls.default_data
        if not data:
            raise GlyphError("--data is required: a dataset folder, a .safetensors file, or 'embedded'")
        cfg = cls.Config()
        presets = entry.catalogue.get("presets") or {}
        if preset:
            if preset not in presets:
                raise GlyphError(f"method '{method}' has no preset '{preset}'{did_you_mean(preset, presets)}; "
                                 f"presets: {', '.join(presets) or 'none'}")
            cfg = apply_overrides(cfg, presets[preset], f"preset '{preset}'")
        file_train: dict[str, Any] = {}
        if config:
            file_method, file_train = read_config_file(Path(config))
            cfg = apply_overrides(cfg, file_method, f"--config {config}")
        cfg = apply_overrides(cfg, overrides, "--set")
        cfg = apply_overrides(cfg, {k: v for k, v in (("steps", steps), ("batch", batch)) if v is not None}, "option")
        tcfg = train_config_from({**file_train, **train_overrides})
    if precision is not None:
        tcfg.precision = precision
    if compile is not None:
        tcfg.compile = compile
    dev = resolve_device(validate_device_spec(device))
    if dist.enabled and dev.type == "cuda":
        dev = resolve_device(f"cuda:{dist.local_rank}")
    resolve_precision(tcfg.precision, dev)  # a bad word or fp16 off CUDA fails here, before any work
    if tcfg.precision == "bf16" and dev.type == "cpu" and not bf16_is_fast(dev) and on_note is not None:
        on_note("this CPU has no native bf16 (AVX512-BF16 or AMX): bf16 autocast is emulated and several times "
                "slower than fp32 here; drop --precision bf16 (auto picks fp32)")
    if seed is not None and not resume:
        tcfg.seed = seed
    dataset = open_dataset(str(data), layout, size=size)
    if resume and dataset.fingerprint() != saved["data"]["fingerprint"]:
        raise GlyphError(f"the data at {data} is not the data this run started with (fingerprint differs); "
                         f"give the original with --data")
    fresh = not run_dir.exists()
    trainer = Trainer(cls(cfg), dataset, run_dir, tcfg, dev, quiet=display is None, data_source=str(data),
                      minutes=minutes, on_note=on_note, display=display)
    try:
        reason = trainer.fit(resume=resume)
    except BaseException:
        # A start that fails (a bad option found by the first step, Ctrl-C in set-up) leaves nothing behind that a
        # plain restart or --resume would trip over.
        if not resume and dist.main:
            if run.never_saved():
                run.clear_unsaved()
            if fresh:
                with contextlib.suppress(OSError):
                    run_dir.rmdir()  # only when empty: a folder made for this run
        raise
    finally:
        from .distributed import shutdown

        shutdown()
    return Trained(method, run_dir, reason, trainer.step_no, int(cfg.steps), trainer.stop_signal)


@dataclass
class Exported:
    """What :func:`export` wrote: a slim run folder for ``method`` with the weights of ``parts``; ``files`` are the
    weight files, then ``config.json``."""

    method: str
    out: Path
    parts: tuple[str, ...]
    files: list[Path]

    @property
    def megabytes(self) -> float:
        """The size of the files written, in MB (10^6 bytes)."""
        return sum(p.stat().st_size for p in self.files) / 1e6


def export(run: str | Path, out: str | Path, *, half: bool = True, checkpoint: str | None = None,
           max_file_mb: float | None = None) -> Exported:
    """Write the weights a run needs to generate (EMA, no discriminator, no optimizer) as a slim run folder that
    loads like the run; ``glyph export`` is this call.

    :param run: a run folder of :func:`train`.
    :param out: a new (or empty) folder.
    :param half: store fp16, half the size; False keeps fp32.
    :param checkpoint: ``step-NNNNNN``, ``best``, or None for the run's latest weights.
    :param max_file_mb: split each part's weights into files of at most this many MB (for transfer limits).
    :raises GlyphError: ``run`` is not a run, ``out`` holds files, the checkpoint does not exist.
    """
    from .checkpoint import RunDir, export_inference
    from .loader import get_registry

    src = RunDir(run)
    config = src.read_config()
    cls = get_registry().method(config["method"]).obj
    from .paths import check_output_dir

    dest = check_output_dir(out, "--out")  # a file, a non-empty folder or no permission: said before any work
    ckpt = None
    if checkpoint == "best":
        ckpt = src.best_checkpoint()
        if ckpt is None:
            raise GlyphError(f"{run} has no best checkpoint (train with evaluation enabled)")
    elif checkpoint:
        ckpt = src.ckpt_root / checkpoint
        if not ckpt.is_dir():
            raise GlyphError(f"{run} has no checkpoint {checkpoint}; see {src.ckpt_root}")
    parts = tuple(cls.inference_parts if cls.inference_parts is not None else cls.parts)
    files = export_inference(run, dest, parts, half=half, checkpoint=ckpt, max_file_mb=max_file_mb)
    return Exported(config["method"], dest, parts, files)


@dataclass
class Evaluation:
    """What :func:`evaluate` measured: the numbers, the metrics that could not run and why, and the protocol
    (what the numbers depend on: the sets' fingerprints, the judge's hash, its precision...)."""

    results: dict[str, float]
    skipped: dict[str, str]
    protocol: dict[str, Any]
    real: str
    fake: str

    def record(self) -> dict[str, Any]:
        """The JSON record ``glyph eval --json`` writes."""
        return {"results": self.results, "skipped": self.skipped, "protocol": self.protocol}


def evaluate(real: str | Path, fake: str | Path, *, metrics: Sequence[str] | None = None, n: int = 10000,
             judge: str | Path | None = None, inception_weights: str | Path | None = None,
             fid_resize: str = "bilinear", device: str = "auto", precision: str = "auto", seed: int | None = None,
             progress: Any = None) -> Evaluation:
    """Compare a generated set with a reference set offline; ``glyph eval`` is this call.

    :param real: the reference set: a folder, a packed ``.safetensors`` file or ``embedded``.
    :param fake: the set to judge, the same kinds, or ``run:RUN_FOLDER`` / ``run:METHOD`` (``n`` images sampled
        from a run's weights, or from the weights shipped with METHOD, seeded by ``seed``).
    :param metrics: metric names (default: every registered one that applies; ``glyph eval --list``).
    :param precision: the judge's, one of :data:`glyph.device.PRECISIONS` (fp16 on CUDA only).
    :param progress: called with (task, done, total) while sampling a ``run:`` set and per metric.
    :raises GlyphError: an unknown metric, a missing set, a bad option.
    """
    from .device import resolve_device, resolve_precision, validate_device_spec
    from .eval.metrics import EvalContext, protocol
    from .eval.metrics import evaluate as run_metrics
    from .loader import get_registry
    from .threads import configure

    configure()  # the CPU threads and their wait policy, before torch does any work (glyph.threads)
    if fid_resize not in ("bilinear", "clean"):
        raise GlyphError(f"--fid-resize {fid_resize!r}: use bilinear or clean")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise GlyphError(f"--n must be a whole number of at least 1, got {n!r}")
    names = [m for m in metrics if m] if metrics else None
    for m in names or []:
        get_registry().metric(m)  # unknown names fail before any work
    dev = resolve_device(validate_device_spec(device))
    resolve_precision(precision, dev)  # before any sampling
    real_data, real_src = _eval_set(str(real), n, dev, seed, progress)
    fake_data, fake_src = _eval_set(str(fake), n, dev, seed, progress)
    ectx = EvalContext(judge_path=judge, inception_weights=inception_weights, fid_resize=fid_resize, device=dev,
                       precision=precision)
    results, skipped = run_metrics(real_data, fake_data, names, ectx, progress=progress)
    return Evaluation(results, skipped, protocol(real_data, fake_data, ectx, real_src, fake_src), real_src, fake_src)


def _eval_set(src: str, n: int, device: Any, seed: int | None, progress: Any) -> tuple[Any, str]:
    """A dataset, or ``run:RUN`` sampled on the fly (``n`` images from the run's EMA weights); ``run:METHOD``
    (a method name, no such folder) samples the weights shipped with that method."""
    import torch

    from .data.sources import open_dataset
    from .dataset import GlyphData
    from .loader import get_registry
    from .trainer import load_run

    if not src.startswith("run:"):
        return open_dataset(src), src
    folder = Path(src[4:])
    if not folder.exists():
        methods = get_registry().methods
        shipped = methods[src[4:]].obj.shipped_weights() if src[4:] in methods else None
        folder = shipped or folder
    method = load_run(folder, device=device)
    g = seeded(seed)
    chunks = []
    with torch.no_grad():
        for i in range(0, n, 256):
            chunks.append(method.preview(min(256, n - i), generator=g).float().clamp(0, 1).cpu())
            if progress is not None:
                progress(f"sampling {src}", min(i + 256, n), n)
    images = (torch.cat(chunks) * 255 + 0.5).to(torch.uint8)
    ink = getattr(method, "data_info", {}).get("ink", "glyph")
    return GlyphData(images, meta={"ink": ink, "source": src}), f"{src} ({n} samples)"
