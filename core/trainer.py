"""The one training loop for every method. It knows nothing about GANs (minGPT's Trainer rule).

Per step the method supplies ``phase(step)`` -> ``make_batch(data, index, phase)`` ->
``train_step(batch, step, trainer)``; the loop does everything else: device placement, seeding,
precision (bf16 autocast on CPU and CUDA, fp16 with a GradScaler on CUDA), channels_last,
cudnn.benchmark, optional torch.compile, EMA of the method's ``ema_parts``, gradient averaging
across processes, a guard against non-finite losses, cadences for logs, sample grids, evaluation
and checkpoints, exact resume, Ctrl-C and SIGTERM handling, the run folder's lock and the trainer
event hooks.

Inside ``train_step`` a method calls ``trainer.backward(loss)`` and ``trainer.step("G")`` instead of
``loss.backward()`` and ``optimizer.step()``: that is where loss scaling, the non-finite check and
the cross-process gradient average happen. Numerically delicate terms (R1 gradients) are computed
outside ``trainer.autocast()``, in fp32.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch

from . import distributed
from .checkpoint import RunDir, load_state, load_weights, weight_files
from .config import config_to_dict
from .dataset import GlyphData
from .device import (
    PRECISION_HELP,
    as_device,
    autocast_dtype,
    cuda_rng_state,
    prepare_cuda,
    resolve_precision,
    set_cuda_rng_state,
)
from .ema import EMA
from .errors import GlyphError
from .events import RunInfo
from .method import Method

Precision = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass
class TrainConfig:
    """Settings of the loop itself (the recipe's settings live in the method's Config)."""

    precision: Precision = field(default="auto", metadata={"help": PRECISION_HELP})
    channels_last: bool = field(default=True, metadata={"help": "NHWC memory format for conv nets"})
    compile: bool = field(default=False, metadata={"help": "torch.compile the networks (measure first)"})
    seed: int = field(default=0, metadata={"help": "seed of weights, data order and noise"})
    deterministic: bool = field(default=False, metadata={"help": "deterministic kernels (bit-exact resume)"})
    log_every: int = field(default=50, metadata={"help": "steps between logged metrics"})
    sample_every: int = field(default=500, metadata={"help": "steps between sample grids (0: never)"})
    eval_every: int = field(default=0, metadata={"help": "steps between evaluations (0: never)"})
    ckpt_every: int = field(default=500, metadata={"help": "steps between checkpoints"})
    keep_last: int = field(default=3, metadata={"help": "checkpoints kept besides the best"})
    samples: int = field(default=64, metadata={"help": "images per sample grid"})
    nan_limit: int = field(default=10, metadata={"help": "non-finite steps in a row before stopping"})

    def validate(self) -> None:
        """Reject impossible values."""
        for name in ("log_every", "ckpt_every", "keep_last", "samples", "nan_limit"):
            if getattr(self, name) < 1:
                raise GlyphError(f"train.{name} must be at least 1, got {getattr(self, name)}")


class TrainDisplay(Protocol):
    """Where a trainer shows its progress (the CLI's bar; nothing by default): ``start`` once, ``update`` at each
    logging interval with the step's record (losses, ``it/s``, ``img/s``), ``close`` at the end."""

    def start(self, title: str, total: int, start: int) -> None: ...

    def update(self, step: int, metrics: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class _Silent:
    def start(self, title: str, total: int, start: int) -> None:
        pass

    def update(self, step: int, metrics: dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class Trainer:
    """Trains ``method`` on ``data`` into the run folder ``run_dir``."""

    def __init__(self, method: Method, data: GlyphData, run_dir: str | Path, config: TrainConfig | None = None,
                 device: torch.device | str = "cpu", quiet: bool = False, data_source: str = "",
                 minutes: float | None = None, on_note: Callable[[str], None] | None = None,
                 display: TrainDisplay | None = None) -> None:
        if minutes is not None and not minutes > 0:
            raise GlyphError(f"--minutes must be a positive number of minutes, got {minutes}")
        self.minutes = minutes
        self.method, self.config = method, config or TrainConfig()
        self.config.validate()
        self.run = RunDir(run_dir)
        self.device = as_device(device)  # CUDA with its index: torch.cuda.set_device needs one
        self.dist = distributed.from_env()
        self.quiet = quiet or not self.dist.main
        self.data_source = data_source
        self.precision = resolve_precision(self.config.precision, self.device)
        self.amp_dtype = autocast_dtype(self.precision)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self.raw_data = data
        self.step_no = 0
        self.bad_streak = 0
        self.bad_total = 0
        self.best_score: float | None = None
        self._bad_this_step = False
        self._stop = False
        self._saving = False
        self._stop_at: float | None = None  # when the first SIGINT or SIGTERM came
        self.stop_signal: int | None = None  # the signal that stopped the run (SIGINT or SIGTERM), if one did
        self.notes: list[str] = []  # things the user should know (a stale lock taken over); see on_note
        self.on_note = on_note
        self.display = display  # core prints nothing: the CLI passes its progress bar here
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.ema: dict[str, EMA] = {}
        self.phase_now: dict[str, Any] = {}

    # ---- the API methods use inside train_step ----------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision context for forward passes (a no-op in fp32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def backward(self, loss: torch.Tensor) -> bool:
        """Backpropagate ``loss`` (scaled under fp16). A non-finite loss is not backpropagated and marks
        the step as skipped; returns whether the loss was finite."""
        finite = bool(torch.isfinite(loss.detach()).all())
        if not finite:
            self._bad_this_step = True
            return False
        (self.scaler.scale(loss) if self.scaler else loss).backward()
        return True

    def step(self, name: str) -> bool:
        """Average gradients across processes, then step optimizer ``name`` unless the step is skipped.

        Gradients are cleared either way. Returns whether the optimizer stepped.
        """
        opt = self.optimizers[name]
        params = [p for g in opt.param_groups for p in g["params"]]
        bad = self._bad_this_step
        if self.dist.enabled:
            bad = distributed.any_rank(bad, self.device)
            if not bad:
                distributed.average_gradients(params, self.dist.world_size)
        stepped = False
        if bad:
            self._bad_this_step = True
        elif self.scaler is not None:
            self.scaler.step(opt)
            self.scaler.update()
            stepped = True
        else:
            opt.step()
            stepped = True
        opt.zero_grad(set_to_none=True)
        return stepped

    @property
    def phase(self) -> dict[str, Any]:
        """The method's phase for the current step."""
        return self.phase_now

    # ---- set-up ------------------------------------------------------------------------------
    def _seed(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def _setup(self) -> None:
        cfg = self.config
        distributed.init(self.dist, self.device)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=False)
        prepare_cuda(self.device, benchmark=not cfg.deterministic)
        self._seed(cfg.seed)  # the same on every rank: identical initial weights
        nets = self.method.build()
        if set(nets) != set(self.method.parts):
            raise GlyphError(f"method '{self.method.name}' built parts {sorted(nets)}, declared {self.method.parts}")
        fmt = torch.channels_last if cfg.channels_last and self.device.type != "mps" else torch.contiguous_format
        for net in nets.values():
            net.to(self.device, memory_format=fmt)
            if self.dist.enabled:
                distributed.broadcast_module(net)
        self.nets = nets
        self.optimizers = self.method.configure_optimizers()
        decay = float(getattr(self.method.config, "ema_decay", 0.999))
        self.ema = {p: EMA(nets[p], decay) for p in self.method.ema_parts}
        if cfg.compile:
            self._originals = dict(nets)
            for name, net in nets.items():
                self.method.nets[name] = torch.compile(net)
        self._seed(cfg.seed + 1000 * self.dist.rank)  # different noise on every rank
        self.data = self.raw_data.to(self.device)
        from .data.loader import BatchLoader

        rows = self.method.train_rows(self.data)
        batch = int(self.method.phase(0).get("batch", self.method.config.batch))
        self.loader = BatchLoader(len(self.data), batch, seed=cfg.seed, rows=rows, rank=self.dist.rank,
                                  world_size=self.dist.world_size, device=self.device)
        self.fixed_noise = torch.Generator().manual_seed(cfg.seed + 12345)

    def _modules(self) -> dict[str, torch.nn.Module]:
        return getattr(self, "_originals", None) or self.method.nets

    # ---- state -------------------------------------------------------------------------------
    def _state(self, per_rank_rng: list[torch.Tensor] | None = None) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": self.step_no,
            "bad_streak": self.bad_streak,
            "bad_total": self.bad_total,
            "best_score": self.best_score if self.best_score is not None else float("nan"),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in getattr(self.method, "schedulers", {}).items()},
            "ema_updates": {k: e.updates for k, e in self.ema.items()},
            "loader": self.loader.state_dict(),
            "method": self.method.extra_state(),
            "rng": {
                "torch": torch.get_rng_state(),
                "python": [*random.getstate()[1], random.getstate()[2] or 0.0],
                "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64)),
                "numpy_pos": int(np.random.get_state()[2]),
                "fixed": self.fixed_noise.get_state(),
            },
        }
        if self.device.type == "cuda":
            state["rng"]["cuda"] = cuda_rng_state(self.device)
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        if per_rank_rng is not None:  # every rank draws its own noise: keep each rank's generator state
            state["rng"]["per_rank"] = per_rank_rng
        return state

    def _restore(self, ckpt: Path) -> None:
        try:
            self._restore_state(ckpt)
        except (KeyError, IndexError, TypeError, ValueError) as e:  # a trainer.pt that is not this run's
            what = f"lacks {e}" if isinstance(e, KeyError) else f"does not fit ({str(e).splitlines()[0]})"
            raise GlyphError(f"checkpoint {ckpt} {what}: it is damaged or was written by another glyph version; "
                             f"delete that folder and {ckpt.parent / 'LATEST'} to resume from an earlier one") from None

    def _restore_state(self, ckpt: Path) -> None:
        state = load_state(ckpt / "trainer.pt")
        for part, net in self._modules().items():
            net.load_state_dict(_checked(load_weights(ckpt / "weights" / f"{part}.safetensors"), net, part))
        for part, ema in self.ema.items():
            ema.load_state_dict(load_weights(ckpt / "weights" / f"{part}.ema.safetensors"),
                                int(state["ema_updates"][part]))
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in getattr(self.method, "schedulers", {}).items():
            s.load_state_dict(state["schedulers"][k])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        self.method.load_extra_state(state.get("method", {}))
        self.loader.load_state_dict(state["loader"])
        self.step_no = int(state["step"])
        self.bad_streak, self.bad_total = int(state["bad_streak"]), int(state["bad_total"])
        best = float(state["best_score"])
        self.best_score = None if math.isnan(best) else best
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        py = rng["python"]
        random.setstate((3, tuple(int(v) for v in py[:-1]), None if py[-1] == 0.0 else float(py[-1])))
        np.random.set_state(("MT19937", rng["numpy"].numpy().astype(np.uint32), rng["numpy_pos"], 0, 0.0))
        self.fixed_noise.set_state(rng["fixed"])
        if "cuda" in rng and self.device.type == "cuda":  # a CPU run resumed on a GPU has none: seeded afresh
            set_cuda_rng_state(rng["cuda"], self.device)
        if self.dist.enabled:
            per_rank = rng.get("per_rank", [])
            if len(per_rank) != self.dist.world_size:
                raise GlyphError(f"the checkpoint was written by {len(per_rank) or 1} process(es); resume it with "
                                 f"the same number ({self.dist.world_size} now)")
            torch.set_rng_state(per_rank[self.dist.rank])

    def run_config(self) -> dict[str, Any]:
        """What config.json records."""
        import glyph

        return {
            "method": self.method.name,
            "glyph_version": glyph.__version__,
            "config": config_to_dict(self.method.config),
            "train": config_to_dict(self.config),
            "parts": list(self.method.parts),
            "ema_parts": list(self.method.ema_parts),
            "data": {"source": self.data_source, "fingerprint": self.raw_data.fingerprint(),
                     "images": len(self.raw_data), "shape": list(self.raw_data.images.shape[1:]),
                     "ink": self.raw_data.meta.get("ink", "glyph"),
                     "classes": {k: len(v) for k, v in self.raw_data.classes.items()}},
            "world_size": self.dist.world_size,
        }

    def save(self, best: bool = False) -> Path | None:
        """Write a checkpoint of the current step (rank 0 only) and fire ``glyph_checkpoint_saved``."""
        path = None
        per_rank = None
        self._saving = True  # a second signal now waits for the save to end (see _on_signal)
        try:
            if self.dist.enabled:  # a collective: every rank takes part, only rank 0 writes
                mine = torch.get_rng_state()
                per_rank = [torch.empty_like(mine) for _ in range(self.dist.world_size)]
                torch.distributed.all_gather(per_rank, mine)
            if self.dist.main:
                weights = {p: n.state_dict() for p, n in self._modules().items()}
                ema = {p: e.state_dict() for p, e in self.ema.items()}
                path = self.run.save_checkpoint(self.step_no, weights, ema, self._state(per_rank),
                                                self.config.keep_last, best)
            if self.dist.enabled:
                torch.distributed.barrier()
        finally:
            self._saving = False
        if path is not None:
            self._notify("glyph_checkpoint_saved", step=self.step_no, path=path)
        return path

    # ---- the loop ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def using_ema(self) -> Iterator[None]:
        """Temporarily put the EMA copies in place of the networks (for samples and evaluation)."""
        saved = dict(self.method.nets)
        for part, ema in self.ema.items():
            self.method.nets[part] = ema.module
        try:
            yield
        finally:
            self.method.nets.update(saved)

    def _sample(self) -> None:
        if not self.dist.main or self.config.sample_every <= 0:
            return
        from .grid import tile
        from .imageio import write_image

        for use_ema in ([False, True] if self.ema else [False]):
            ctx = self.using_ema() if use_ema else contextlib.nullcontext()
            g = torch.Generator().manual_seed(self.config.seed + 777)
            with ctx, torch.no_grad(), self.autocast():
                images = self.method.preview(self.config.samples, generator=g).float().clamp(0, 1).cpu()
            shown = images.permute(0, 2, 3, 1).numpy()
            if self.raw_data.meta.get("ink", "glyph") == "glyph":
                shown = 1.0 - shown
            write_image(self.run.sample_path(self.step_no, use_ema), tile(shown[..., 0] if shown.shape[-1] == 1
                                                                        else shown))

    def _evaluate(self) -> bool:
        with self.using_ema(), torch.no_grad():
            scores = self.method.evaluate(self.data)
        if not scores:
            return False
        if self.dist.main:
            self.run.append_metrics({"step": self.step_no, **{f"eval/{k}": v for k, v in scores.items()}})
        score = scores.get("score")
        if score is not None and (self.best_score is None or score < self.best_score):
            self.best_score = float(score)
            return True
        return False

    def _notify(self, event: str, **kwargs: Any) -> None:
        from .loader import notify

        notify(event, run=self.info, **kwargs)

    def _note(self, message: str) -> None:
        self.notes.append(message)
        if self.on_note is not None:
            self.on_note(message)

    def _on_signal(self, signum: int, frame: Any) -> None:
        """SIGINT or SIGTERM: finish the step, save, stop. A second one during a save waits for it to end (a
        checkpoint is never left half-written); a later one at any other time stops at once. One that comes
        within a second of the first is the same request delivered twice (torchrun passes a terminal's Ctrl-C
        on to workers that got it already) and changes nothing."""
        now = time.monotonic()
        if self._stop_at is None:
            self._stop_at, self.stop_signal = now, signum
        elif not self._saving and now - self._stop_at > 1.0:
            raise KeyboardInterrupt
        self._stop = True

    def fit(self, resume: bool = False) -> str:
        """Train to ``method.config.steps``; return why it stopped: ``finished``, ``interrupted`` (Ctrl-C or
        SIGTERM; :attr:`stop_signal` says which), ``budget`` (the ``minutes`` wall-clock budget ran out) or
        ``diverged``.

        A run stopped by a signal or its budget ends after a whole step with a checkpoint of that step, so
        ``--resume`` continues it exactly as if it had not stopped. While it trains, the run folder is
        locked (:meth:`RunDir.lock`): a second trainer into the same folder is refused.
        """
        started = time.monotonic()  # the budget counts set-up too: it is wall-clock time on a borrowed machine
        with self.run.lock(self._note) if self.dist.main else contextlib.nullcontext():
            if not resume and self.dist.main and self.run.exists():  # another trainer got here first and ended
                raise GlyphError(f"{self.run.path} already holds a run; add --resume to continue it or choose "
                                 f"another --out")
            return self._fit(resume, started)

    def _check_room(self, ckpt: Path | None) -> None:
        """Refuse to start when the disk cannot hold one more checkpoint (the size of ``ckpt``, or for a new run
        its weights, EMA weights and two optimiser moments per parameter): better now than after the steps before
        the first save."""
        import shutil

        if ckpt is not None:
            need = sum(f.stat().st_size for f in ckpt.rglob("*") if f.is_file())
        else:
            tensors = [t for net in self._modules().values() for t in net.state_dict().values()]
            tensors += [t for e in self.ema.values() for t in e.state_dict().values()]
            tensors += [p for opt in self.optimizers.values() for group in opt.param_groups
                        for p in group["params"] for _ in range(2)]
            need = sum(t.numel() * t.element_size() for t in tensors)
        free = shutil.disk_usage(self.run.path).free
        if free < need:
            then = ("free some space, then continue with --resume (the checkpoints are untouched)" if ckpt is not None
                    else "free some space or choose another --out")
            raise GlyphError(f"the disk of {self.run.path} has {free / 2**20:.1f} MB free and a checkpoint of this "
                             f"run needs about {need / 2**20:.1f} MB; {then}")

    def _fit(self, resume: bool, started: float) -> str:
        self._setup()
        if resume:
            ckpt = self.run.latest_checkpoint()
            if ckpt is None:
                raise GlyphError(f"{self.run.path} has no complete checkpoint to resume from; start without "
                                 f"--resume")
            if self.dist.main:
                self._check_room(ckpt)
            self._restore(ckpt)
            if self.dist.main:  # steps logged after that checkpoint are logged again: keep each step once
                self.run.truncate_metrics(self.step_no)
        elif self.dist.main:
            self._check_room(None)
            self.run.write_config(self.run_config())
        total = int(self.method.config.steps)
        self.info = RunInfo(self.method.name, self.run.path, self.run_config(), str(self.device), self.dist.rank,
                            self.dist.world_size, self.step_no)
        self._notify("glyph_train_start")
        previous: dict[int, Any] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):  # on every rank, until fit returns: the final save too
            with contextlib.suppress(ValueError):  # not the main thread: no handler
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            return self._loop(total, started)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _loop(self, total: int, started: float) -> str:
        progress = self.display if self.display is not None and not self.quiet else _Silent()
        progress.start(self.method.name, total, self.step_no)
        reason = "finished"
        t_log, s_log, imgs = time.perf_counter(), self.step_no, 0
        try:
            while self.step_no < total:
                self.phase_now = self.method.phase(self.step_no)
                self.loader.batch_size = int(self.phase_now.get("batch", self.method.config.batch))
                index = self.loader.next()
                batch = self.method.make_batch(self.data, index, self.phase_now)
                if self.config.channels_last and self.device.type != "mps":
                    batch = {k: v.contiguous(memory_format=torch.channels_last)
                             if isinstance(v, torch.Tensor) and v.ndim == 4 else v for k, v in batch.items()}
                self._bad_this_step = False
                for opt in self.optimizers.values():
                    # Gradients never carry over between steps: a GAN's G step also fills D's gradients,
                    # which would otherwise leak into the next D step (and make resume inexact).
                    opt.zero_grad(set_to_none=True)
                for net in self.method.nets.values():
                    net.train()
                losses = self.method.train_step(batch, self.step_no, self)
                self.step_no += 1
                imgs += len(index) * self.dist.world_size
                if self._bad_this_step:
                    self.bad_streak += 1
                    self.bad_total += 1
                    if self.bad_streak >= self.config.nan_limit:
                        reason = "diverged"
                        break
                else:
                    self.bad_streak = 0
                    for part, ema in self.ema.items():
                        ema.update(self._modules()[part])
                if self.dist.enabled:
                    for net in self._modules().values():
                        distributed.broadcast_module(net, buffers_only=True)
                if self.step_no % self.config.log_every == 0 or self.step_no == total:
                    dt = max(time.perf_counter() - t_log, 1e-9)
                    record = {"step": self.step_no, **{k: float(v) for k, v in losses.items()},
                              "it/s": (self.step_no - s_log) / dt, "img/s": imgs / dt,
                              "skipped": float(self.bad_total)}
                    if self.dist.main:
                        self.run.append_metrics(record)
                    progress.update(self.step_no, record)
                    self._notify("glyph_train_step", step=self.step_no, metrics=record)
                    t_log, s_log, imgs = time.perf_counter(), self.step_no, 0
                best = False
                if self.config.eval_every and self.step_no % self.config.eval_every == 0:
                    best = self._evaluate()
                if self.config.sample_every and self.step_no % self.config.sample_every == 0:
                    self._sample()
                if (self.step_no % self.config.ckpt_every == 0 or best) and not self.bad_streak:
                    self.save(best=best)  # never during a run of skipped steps: resume starts before it
                stop = self._stop
                if self.dist.enabled:  # a signal may reach some ranks only: all stop after the same step
                    stop = distributed.any_rank(stop, self.device)
                if stop:
                    reason = "interrupted"
                    break
                if self.minutes is not None and self.step_no < total:
                    over = time.monotonic() - started >= self.minutes * 60
                    if self.dist.enabled:  # every rank stops at the same step
                        over = distributed.any_rank(over, self.device)
                    if over:
                        reason = "budget"
                        break
        except BaseException:
            # Plugins close what they opened in the run folder (TensorBoard's writer and its thread) before the
            # error goes on and a run that never saved is removed under them.
            with contextlib.suppress(Exception):
                self._notify("glyph_train_end", step=self.step_no, reason="failed")
            raise
        finally:
            progress.close()
        if reason == "diverged":
            self._notify("glyph_train_end", step=self.step_no, reason=reason)
            last = self.run.latest_checkpoint()
            raise GlyphError(f"training diverged: {self.bad_streak} steps in a row had non-finite losses (step "
                             f"{self.step_no}); the last good checkpoint is {last or 'none'}; lower the learning "
                             f"rate or use --precision fp32, then --resume")
        latest = self.run.latest_checkpoint()
        if latest is None or latest.name != f"step-{self.step_no:06d}":
            self.save()
        if reason == "finished" and self.config.sample_every:
            self._sample()
        self._notify("glyph_train_end", step=self.step_no, reason=reason)
        return reason


def _checked(state: dict[str, torch.Tensor], net: torch.nn.Module, part: str) -> dict[str, torch.Tensor]:
    """Refuse weights whose names or shapes do not fit ``net`` with a message instead of a traceback."""
    own = net.state_dict()
    if set(state) != set(own):
        missing, extra = sorted(set(own) - set(state))[:3], sorted(set(state) - set(own))[:3]
        raise GlyphError(f"weights for '{part}' do not fit this network (missing {missing}, unexpected {extra}); "
                         f"they come from a different method or config")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise GlyphError(f"weights for '{part}' were trained with another config: {k} has shape "
                             f"{tuple(v.shape)}, this network expects {tuple(own[k].shape)}")
    return state


def load_run(path: str | Path, method_name: str | None = None, device: torch.device | str = "cpu",
             ema: bool = True, checkpoint: str | None = None) -> Method:
    """Rebuild a trained method from its run folder alone (EMA weights preferred for inference).

    :param method_name: the method the caller expects; another method's run folder is an error.
    :param checkpoint: ``best``, a checkpoint folder name, or None for the run's latest weights.
    """
    from .config import apply_overrides
    from .loader import get_registry

    run = RunDir(path)
    config = run.read_config(method_name)
    cls = get_registry().method(config["method"]).obj
    try:
        method_config = apply_overrides(cls.Config(), config.get("config", {}), f"{run.path / 'config.json'}")
    except GlyphError as e:
        raise GlyphError(f"{e} (the run was made by another glyph version: {config.get('glyph_version')})") from None
    method = cls(method_config)
    method.data_info = config.get("data", {})
    nets = method.build()
    folder = run.path / "weights"
    if checkpoint == "best":
        best = run.best_checkpoint()
        if best is None:
            raise GlyphError(f"{run.path} has no best checkpoint (train with evaluation enabled)")
        folder = best / "weights"
    elif checkpoint:
        folder = run.ckpt_root / checkpoint / "weights"
    needed = set(cls.inference_parts if cls.inference_parts is not None else cls.parts)
    device = as_device(device)
    # Inference in the layout the run trained in: on a CPU, NHWC convolutions (and the bilinear and nearest
    # upsampling between them) ran 1.5x (ddpm) to 3x (dsfgan) faster than NCHW here.
    channels_last = bool(config.get("train", {}).get("channels_last", True)) and device.type != "mps"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for part, net in list(nets.items()):
        ema_file = folder / f"{part}.ema.safetensors"
        raw_file = folder / f"{part}.safetensors"
        has_ema = bool(weight_files(ema_file))
        if part not in needed and not has_ema and not weight_files(raw_file):
            del method.nets[part]  # e.g. a GAN's discriminator: not shipped, not needed to generate
            continue
        use = ema_file if ema and has_ema else raw_file
        net.load_state_dict(_checked(load_weights(use), net, part))
        net.to(device, memory_format=fmt).eval()
    return method


def warmup_cosine(optimizer: torch.optim.Optimizer, total: int, warmup: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then a cosine decay to 0 at step ``total``.

    Methods keep it in ``self.schedulers`` and step it once per optimizer step; the trainer saves its state.
    """
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_config_from(overrides: dict[str, Any], source: str = "train") -> TrainConfig:
    """A TrainConfig with ``overrides`` applied and validated (``source`` names them in messages)."""
    from .config import apply_overrides

    cfg = apply_overrides(TrainConfig(), overrides, source)
    cfg.validate()
    return cfg


