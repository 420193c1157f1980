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
      train.lock                       while a trainer writes the folder: its pid and host

A checkpoint is written into a temporary folder, flushed to disk and renamed into place, then the
``LATEST`` pointer is replaced atomically: a kill at any moment leaves the previous checkpoint
loadable. ``trainer.pt`` holds only tensors, numbers and strings, so it loads with
``torch.load(weights_only=True)``: no pickled code is ever run. Weights are safetensors.

One trainer at a time writes a run folder: :meth:`RunDir.lock` holds ``train.lock`` with an exclusive
``flock`` (released by the kernel when the process dies, so a lock left by a killed trainer is stale
and taken over). Everything read back from a run folder is checked first: a damaged ``config.json`` or
``LATEST`` is a GlyphError naming the file and the field, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .errors import GlyphError
from .imageio import atomic_output

try:
    import fcntl
except ImportError:  # Windows: the lock falls back to checking the holder's pid
    fcntl = None  # type: ignore[assignment]

CONFIG = "config.json"
LOCK = "train.lock"
_CHECKPOINT_NAME = re.compile(r"step-\d{6,}")

# config.json fields glyph reads back, with their JSON types: a damaged file is refused field by field.
_FIELDS: dict[str, tuple[type, str]] = {
    "method": (str, "a method name"),
    "glyph_version": (str, "a version string"),
    "config": (dict, "a table of the method's config fields"),
    "train": (dict, "a table of the training loop's fields"),
    "parts": (list, "a list of network names"),
    "ema_parts": (list, "a list of network names"),
    "data": (dict, "a table describing the training data"),
    "world_size": (int, "a number of processes"),
    "exported": (dict, "a table"),
}
_DATA_FIELDS: dict[str, tuple[type, str]] = {
    "source": (str, "the dataset the run trained on"),
    "fingerprint": (str, "the dataset's fingerprint"),
    "ink": (str, "'glyph' or 'image'"),
    "images": (int, "a number of images"),
    "shape": (list, "a list of numbers"),
    "classes": (dict, "a table"),
}
_JSON_TYPE = {dict: "a table (JSON object)", list: "a list", str: "a string", int: "a whole number",
              float: "a number", bool: "true or false", type(None): "null"}


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
        for name, tensor in state.items():
            # A diverged run's weights load fine and then draw solid black: refuse them here, named.
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise GlyphError(f"weights file {file}: tensor {name} holds NaN or infinite values (the run "
                                 f"diverged); use an earlier checkpoint or train again")
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
        why = str(e).splitlines()[0].split(". ")[0][:120]
        raise GlyphError(f"trainer state {path} is corrupt or not glyph's ({why}); remove that checkpoint folder "
                         f"to resume from the one before it, or start the run again") from None


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

    def never_saved(self) -> bool:
        """True when the folder holds a run that never got as far as its first checkpoint or weights: its start
        failed or was stopped (a bad option found late, Ctrl-C during set-up), so there is nothing to resume."""
        weights = self.path / "weights"
        return self.exists() and self.latest_checkpoint() is None and not (
            weights.is_dir() and any(weights.glob("*.safetensors")))

    def clear_unsaved(self) -> None:
        """Remove what a run that :meth:`never_saved` left (its config, metrics, samples, logs), so it can start
        again; anything else in the folder is left alone."""
        import shutil

        for name in (CONFIG, "metrics.jsonl"):
            (self.path / name).unlink(missing_ok=True)
        for folder in ("samples", "tensorboard", "checkpoints"):
            shutil.rmtree(self.path / folder, ignore_errors=True)

    def write_config(self, config: dict[str, Any]) -> None:
        """Write config.json atomically."""
        with atomic_output(self.path / CONFIG) as tmp:
            tmp.write_text(json.dumps(config, indent=2, ensure_ascii=False, default=str))

    def read_config(self, expect_method: str | None = None, require: tuple[str, ...] = ()) -> dict[str, Any]:
        """config.json as a dict, its fields checked; checks the method when ``expect_method`` is given.

        :param require: fields that must be present besides ``method`` (``glyph train --resume`` needs
            ``config``, ``train`` and ``data``); ``data.source`` and ``data.fingerprint`` with ``data``.
        :raises GlyphError: naming the file and the field when the file is not glyph's or is damaged.
        """
        f = self.path / CONFIG
        if not self.path.is_dir():
            raise GlyphError(f"{self.path}: no such run folder")
        if not f.is_file():
            raise GlyphError(f"{self.path} is not a glyph run folder (no {CONFIG}); train one with `glyph train`")
        damaged = "the run folder is damaged: copy it again whole, or train again"
        try:
            config = json.loads(f.read_bytes().decode("utf-8"))
        except OSError as e:
            raise GlyphError(f"{f} cannot be read ({e.strerror or e})") from None
        except UnicodeDecodeError as e:
            raise GlyphError(f"{f} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                             f"{damaged}") from None
        except ValueError as e:  # json.JSONDecodeError, or a number too long to convert
            raise GlyphError(f"{f} is not valid JSON ({str(e).splitlines()[0]}); {damaged}") from None
        _check_config(config, f, ("method", *require), damaged)
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
        try:
            (tmp / "weights").mkdir(parents=True)
            for part, sd in weights.items():
                save_weights(tmp / "weights" / f"{part}.safetensors", sd)
            for part, sd in ema.items():
                save_weights(tmp / "weights" / f"{part}.ema.safetensors", sd)
            save_state(tmp / "trainer.pt", state)
            _fsync_dir(tmp / "weights")
            _fsync_dir(tmp)
        except OSError as e:
            # A full disk: nothing half-written stays behind, the previous checkpoint is untouched, and the
            # message says how much room one checkpoint takes.
            shutil.rmtree(tmp, ignore_errors=True)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                need = sum(t.numel() * t.element_size() for sd in (*weights.values(), *ema.values())
                           for t in sd.values())
                kept = self.latest_checkpoint()
                raise GlyphError(f"disk full at {self.ckpt_root}: a checkpoint needs about {need / 2**20:.0f} MB "
                                 f"more; free some space and continue with --resume"
                                 + (f" (the last good checkpoint, {kept.name}, is kept)" if kept else "")) from None
            raise
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

    def _pointer(self, pointer: str, strict: bool = True) -> Path | None:
        """The complete checkpoint ``pointer`` (LATEST, BEST) names, or None. A pointer that holds anything but
        a checkpoint name is a GlyphError when ``strict``, else ignored."""
        f = self.ckpt_root / pointer
        if not f.is_file():
            return None
        try:
            raw = f.read_bytes()[:200]
        except OSError as e:
            raise GlyphError(f"{f} cannot be read ({e.strerror or e})") from None
        try:
            name = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            name = None
        if name is None or not _CHECKPOINT_NAME.fullmatch(name):
            if not strict:
                return None
            done = sorted(p.name for p in self.ckpt_root.glob("step-*") if (p / "trainer.pt").is_file())
            use = f"the newest complete one is {done[-1]}" if done else "there is none"
            raise GlyphError(f"{f} is damaged: it should hold the name of a checkpoint (step-NNNNNN), it holds "
                             f"{raw[:40]!r}; delete it to use the newest complete checkpoint ({use})")
        target = self.ckpt_root / name
        return target if (target / "trainer.pt").is_file() else None

    def _prune(self, keep_last: int) -> None:
        keep = {p.name for p in (self._pointer("LATEST", False), self._pointer("BEST", False)) if p}
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

    def truncate_metrics(self, step: int) -> int:
        """Drop metrics.jsonl records after ``step`` (and lines a kill cut short): a resumed run logs those
        steps again, so each step stays in the file once. Returns how many lines were dropped."""
        f = self.path / "metrics.jsonl"
        if not f.is_file():
            return 0
        lines = f.read_bytes().splitlines(keepends=True)
        keep = [line for line in lines if _logged_step(line) is not None and _logged_step(line) <= step]
        if len(keep) != len(lines):
            with atomic_output(f) as tmp:
                tmp.write_bytes(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in keep))
        return len(lines) - len(keep)

    def check_unlocked(self) -> None:
        """Refuse a folder another trainer holds now (checked before work starts; writes nothing)."""
        try:
            fd = os.open(self.path / LOCK, os.O_RDONLY)
        except OSError:
            return
        try:
            if _held(fd):
                raise self._busy(_read_holder(fd))
        finally:
            os.close(fd)

    def _busy(self, holder: dict[str, Any]) -> GlyphError:
        return GlyphError(f"{self.path} is being trained by another process ({_describe(holder)}); wait for it to "
                          f"end or stop it, or train into another --out (lock file {self.path / LOCK})")

    @contextlib.contextmanager
    def lock(self, note: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the folder's training lock for the block: a second trainer is refused with the holder's pid.

        The lock is ``flock`` on ``train.lock`` (the kernel drops it when the holder dies, however it dies),
        and the file holds the holder's pid and host for the message. A lock file left by a dead trainer is
        taken over, with a ``note``. The file is removed when the block ends, also on errors.
        """
        f = self.path / LOCK
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise GlyphError(f"cannot create the run folder {self.path} ({e.strerror or e})") from None
        while True:
            try:
                fd = os.open(f, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise GlyphError(f"cannot create the lock file {f} ({e.strerror or e}); check the folder's "
                                 f"permissions") from None
            if not _take(fd):
                holder = _read_holder(fd)
                os.close(fd)
                raise self._busy(holder)
            with contextlib.suppress(OSError):  # the previous holder removed the file between open and lock
                if os.fstat(fd).st_ino == os.stat(f).st_ino:
                    break
            os.close(fd)
        try:
            old = _read_holder(fd)
            if old.get("pid") and old.get("pid") != os.getpid() and note is not None:
                note(f"took over the lock of {_describe(old)} in {self.path}: that trainer is no longer running "
                     f"(it was killed or crashed); its last complete checkpoint is kept")
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode() + b"\n", 0)
            yield
        finally:
            with contextlib.suppress(OSError):  # removed while still held: no one can take a lock on it meanwhile
                os.unlink(f)
            os.close(fd)

    def sample_path(self, step: int, ema: bool = False) -> Path:
        """``samples/step-NNNNNN.png`` (or ``-ema.png``)."""
        return self.path / "samples" / f"step-{step:06d}{'-ema' if ema else ''}.png"


def _check_config(config: Any, f: Path, required: tuple[str, ...], damaged: str) -> None:
    """Refuse a config.json that is not a table, misses a ``required`` field or has a field of the wrong type."""
    if not isinstance(config, dict):
        raise GlyphError(f"{f} holds {_JSON_TYPE.get(type(config), type(config).__name__)}, not a table (JSON "
                         f"object) of run fields; {damaged}")
    for key, (kind, what) in _FIELDS.items():
        _check_field(config, key, kind, what, f, key in required, damaged)
    data = config.get("data")
    if data is not None:
        for key, (kind, what) in _DATA_FIELDS.items():
            _check_field(data, key, kind, what, f, "data" in required and key in ("source", "fingerprint"), damaged,
                         prefix="data.")
    for key in ("parts", "ema_parts"):
        if not all(isinstance(p, str) for p in config.get(key, [])):
            raise GlyphError(f"{f}: field '{key}' must be a list of network names (strings); {damaged}")


def _check_field(table: dict, key: str, kind: type, what: str, f: Path, required: bool, damaged: str,
                 prefix: str = "") -> None:
    if key not in table:
        if required:
            raise GlyphError(f"{f}: field '{prefix}{key}' ({what}) is missing; {damaged}")
        return
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        seen = _JSON_TYPE.get(type(value), type(value).__name__)
        raise GlyphError(f"{f}: field '{prefix}{key}' must be {_JSON_TYPE[kind]} ({what}), got {seen}; {damaged}")


def _logged_step(line: bytes) -> int | None:
    """The step of one metrics.jsonl line, or None for a line that is not a whole record."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    step = record.get("step") if isinstance(record, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def _take(fd: int) -> bool:
    """Try to lock ``fd`` exclusively without waiting; False when another process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
        except OSError:  # a file system without flock: fall back to the pid check below
            pass
    return not _alive(_read_holder(fd))


def _held(fd: int) -> bool:
    """True when a living process holds the lock on the file ``fd`` is open on (the check takes no lock)."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return _alive(_read_holder(fd))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    return _alive(_read_holder(fd))


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        holder = json.loads(os.pread(fd, 1000, 0))
    except (OSError, ValueError):
        return {}
    pid = holder.get("pid") if isinstance(holder, dict) else None
    return holder if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "pid unknown"
    host = holder.get("host")
    return f"pid {holder['pid']}" + (f" on host {host}" if host and host != socket.gethostname() else "")


def _alive(holder: dict[str, Any]) -> bool:
    """Whether the lock's holder still runs. Without flock only this host's processes can be checked: a
    holder on another host counts as alive."""
    if not holder or holder.get("pid") == os.getpid():
        return False
    if holder.get("host") not in (None, socket.gethostname()):
        return True
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


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
