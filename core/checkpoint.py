"""Run folders that describe themselves, and checkpoints that survive being killed mid-write.

::

    runs/NAME/
      config.json                      method, glyph version, resolved config, data fingerprint, parts
      weights/<part>.safetensors       the latest weights, one file per network
      weights/<part>.ema.safetensors   its EMA copy, when the method keeps one
      checkpoints/step-000500/         weights/ as above + trainer.pt (optimizers, step, RNG states)
      checkpoints/LATEST, BEST         names of the newest complete and of the best checkpoint
      metrics.jsonl                    one JSON object per logged step
      samples/step-000500.png          sample grids (and -ema.png)

A checkpoint is written into a temporary folder, flushed to disk and renamed into place, then the
``LATEST`` pointer is replaced atomically: a kill at any moment leaves the previous checkpoint
loadable. ``trainer.pt`` holds only tensors, numbers and strings, so it loads with
``torch.load(weights_only=True)``: no pickled code is ever run. Weights are safetensors.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .errors import GlyphError
from .imageio import atomic_output

CONFIG = "config.json"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_weights(path: Path, state: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write a state dict as safetensors, atomically (tensors moved to the CPU, made contiguous)."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def shard_name(path: Path, index: int, count: int) -> Path:
    """``G.ema.safetensors`` -> ``G.ema-00001-of-00002.safetensors`` (1-based, as diffusers names shards)."""
    return path.with_name(f"{path.name.removesuffix('.safetensors')}-{index:05d}-of-{count:05d}.safetensors")


def weight_files(path: Path) -> list[Path]:
    """The files that hold the weights ``path`` names: the file itself, or its shards when an export split it
    (see :func:`export_inference`); empty when there are none. Incomplete shard sets are a GlyphError."""
    if path.is_file():
        return [path]
    stem = path.name.removesuffix(".safetensors")
    shards = sorted(path.parent.glob(f"{stem}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].safetensors"))
    if not shards:
        return []
    count = int(shards[0].name[-len("00000.safetensors"):-len(".safetensors")])
    expected = [shard_name(path, i, count) for i in range(1, count + 1)]
    if shards != expected:
        missing = sorted({p.name for p in expected} - {p.name for p in shards})
        raise GlyphError(f"weights {path.name} are split into {count} shards but {', '.join(missing) or 'some'} "
                         f"are missing or extra files lie beside them in {path.parent}; copy the folder whole")
    return shards


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """Read safetensors weights (one file or its shards); a missing or corrupt file is a GlyphError that says
    what to do."""
    files = weight_files(path)
    if not files:
        raise GlyphError(f"weights file {path} is missing; the run folder is incomplete (train again or copy it "
                         f"whole)")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        try:
            state.update(load_file(str(file)))
        except Exception as e:  # safetensors raises its own error types for corrupt files
            raise GlyphError(f"weights file {file} is corrupt ({str(e).splitlines()[0]}); use another checkpoint "
                             f"or train again") from None
    return state


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write trainer state (tensors, numbers, strings, lists, dicts only) atomically."""
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def load_state(path: Path) -> dict[str, Any]:
    """Read trainer state with ``weights_only=True``."""
    if not path.is_file():
        raise GlyphError(f"trainer state {path} is missing; the checkpoint is incomplete")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise GlyphError(f"trainer state {path} is corrupt or not glyph's ({str(e).splitlines()[0]})") from None


class RunDir:
    """A run folder: its config, checkpoints, metrics and samples."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def ckpt_root(self) -> Path:
        """Where checkpoints live."""
        return self.path / "checkpoints"

    def exists(self) -> bool:
        """True when the folder holds a run (a config.json)."""
        return (self.path / CONFIG).is_file()

    def write_config(self, config: dict[str, Any]) -> None:
        """Write config.json atomically."""
        with atomic_output(self.path / CONFIG) as tmp:
            tmp.write_text(json.dumps(config, indent=2, ensure_ascii=False, default=str))

    def read_config(self, expect_method: str | None = None) -> dict[str, Any]:
        """config.json as a dict; checks the method when ``expect_method`` is given."""
        f = self.path / CONFIG
        if not self.path.is_dir():
            raise GlyphError(f"{self.path}: no such run folder")
        if not f.is_file():
            raise GlyphError(f"{self.path} is not a glyph run folder (no {CONFIG}); train one with `glyph train`")
        try:
            config = json.loads(f.read_text())
        except (OSError, ValueError) as e:
            raise GlyphError(f"{f} is unreadable ({e}); the run folder is damaged") from None
        if expect_method and config.get("method") != expect_method:
            raise GlyphError(f"{self.path} is a run of method '{config.get('method')}', not '{expect_method}'; "
                             f"use `glyph run {config.get('method')} --weights {self.path}`")
        return config

    def save_checkpoint(self, step: int, weights: dict[str, dict[str, torch.Tensor]],
                        ema: dict[str, dict[str, torch.Tensor]], state: dict[str, Any], keep_last: int = 3,
                        best: bool = False) -> Path:
        """Write checkpoint ``step`` completely, then point LATEST (and BEST) at it, then prune old ones."""
        name = f"step-{step:06d}"
        final = self.ckpt_root / name
        tmp = self.ckpt_root / f".tmp-{name}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        (tmp / "weights").mkdir(parents=True)
        for part, sd in weights.items():
            save_weights(tmp / "weights" / f"{part}.safetensors", sd)
        for part, sd in ema.items():
            save_weights(tmp / "weights" / f"{part}.ema.safetensors", sd)
        save_state(tmp / "trainer.pt", state)
        _fsync_dir(tmp / "weights")
        _fsync_dir(tmp)
        if final.exists():  # the same step saved again (e.g. an interrupt right after a save)
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(self.ckpt_root)
        self._point("LATEST", name)
        if best:
            self._point("BEST", name)
        # The run's top-level weights/ mirror the newest checkpoint, file by file, atomically.
        for f in sorted((final / "weights").iterdir()):
            with atomic_output(self.path / "weights" / f.name) as t:
                shutil.copyfile(f, t)
        self._prune(keep_last)
        return final

    def _point(self, pointer: str, name: str) -> None:
        with atomic_output(self.ckpt_root / pointer) as tmp:
            tmp.write_text(name + "\n")

    def _pointer(self, pointer: str) -> Path | None:
        f = self.ckpt_root / pointer
        if not f.is_file():
            return None
        target = self.ckpt_root / f.read_text().strip()
        return target if (target / "trainer.pt").is_file() else None

    def _prune(self, keep_last: int) -> None:
        keep = {p.name for p in (self._pointer("LATEST"), self._pointer("BEST")) if p}
        done = sorted(p for p in self.ckpt_root.glob("step-*") if p.is_dir())
        keep |= {p.name for p in done[-max(1, keep_last):]}
        for p in done:
            if p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)
        for p in self.ckpt_root.glob(".tmp-*"):  # leftovers of a killed save
            if not p.name.endswith(f"-{os.getpid()}"):
                shutil.rmtree(p, ignore_errors=True)

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint (LATEST, else the highest complete step folder)."""
        found = self._pointer("LATEST")
        if found:
            return found
        done = sorted(p for p in self.ckpt_root.glob("step-*") if (p / "trainer.pt").is_file())
        return done[-1] if done else None

    def best_checkpoint(self) -> Path | None:
        """The checkpoint marked best by evaluation, if any."""
        return self._pointer("BEST")

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl (flushed at once)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()

    def sample_path(self, step: int, ema: bool = False) -> Path:
        """``samples/step-NNNNNN.png`` (or ``-ema.png``)."""
        return self.path / "samples" / f"step-{step:06d}{'-ema' if ema else ''}.png"


def export_inference(run: str | Path, dest: str | Path, parts: tuple[str, ...] | list[str], half: bool = True,
                     checkpoint: Path | None = None, max_file_mb: float | None = None) -> list[Path]:
    """Write a slim run folder for inference: ``config.json`` and the ``parts`` weights (EMA when there is
    one), optionally as fp16. It loads with ``--weights DEST`` like the full run; glyph ships its default
    weights this way. Returns the files written.

    :param max_file_mb: split a part's weights into shards of at most this many megabytes (10^6 bytes), whole
        tensors each, so that each file fits a transfer limit (a borrowed GPU machine returns files of at most
        16 MiB); None writes one file per part.
    """
    src = RunDir(run)
    config = src.read_config()
    folder = (checkpoint or src.path) / "weights"
    out = Path(dest)
    written = []
    for part in parts:
        ema, raw = folder / f"{part}.ema.safetensors", folder / f"{part}.safetensors"
        use = ema if weight_files(ema) else raw
        state = load_weights(use)
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        target = out / "weights" / use.name
        meta = {"exported_from": str(src.path), "dtype": "fp16" if half else "fp32"}
        groups = _shard(state, max_file_mb)
        if len(groups) == 1:
            save_weights(target, state, meta)
            written.append(target)
            continue
        for i, group in enumerate(groups, 1):
            shard = shard_name(target, i, len(groups))
            save_weights(shard, group, meta)
            written.append(shard)
    config["exported"] = {"parts": list(parts), "half": half, "from_step": _step_of(checkpoint or src)}
    with atomic_output(out / "config.json") as tmp:
        tmp.write_text(json.dumps(config, indent=2, ensure_ascii=False))
    written.append(out / "config.json")
    return written


def _shard(state: dict[str, torch.Tensor], max_file_mb: float | None) -> list[dict[str, torch.Tensor]]:
    """Split ``state`` into consecutive groups of whole tensors of at most ``max_file_mb`` each (a tensor larger
    than that alone is its own group)."""
    if max_file_mb is None:
        return [state]
    if not max_file_mb > 0:
        raise GlyphError(f"--max-file-mb must be positive, got {max_file_mb}")
    limit = max_file_mb * 1e6
    limit -= min(64 * 1024, limit / 10)  # room for the safetensors header (names, shapes, offsets)
    groups: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if groups[-1] and size + nbytes > limit:
            groups.append({})
            size = 0
        groups[-1][name] = tensor
        size += nbytes
    return groups


def _step_of(where: Any) -> int | None:
    """The step of a checkpoint folder, or of a run's latest checkpoint."""
    ckpt = where if isinstance(where, Path) else where.latest_checkpoint()
    return int(ckpt.name.split("-")[1]) if ckpt is not None and ckpt.name.startswith("step-") else None
