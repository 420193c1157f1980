"""Conformance checks for methods: the same ones glyph's built-ins pass.

Plugin authors call them from their own tests::

    from glyph.testing import check_method

    def test_conforms():
        check_method("mymethod")

Each check raises ``AssertionError`` with a message that says what to fix.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from .config import apply_overrides
from .imageio import read_image
from .loader import get_registry
from .method import Method, RunContext, run_options


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise AssertionError(message)


def check_method(name: str, workdir: Path | None = None) -> list[str]:
    """Run every conformance check on the registered method ``name``; return the names of the checks.

    :param workdir: where ``self_test_options`` may create inputs (a temporary folder by default).
    """
    registry = get_registry()
    failures = [f.line() for f in registry.failures if name in f.error or f.plugin == name]
    _check(name in registry.methods, f"method '{name}' is not registered" + (f": {failures}" if failures else ""))
    entry = registry.methods[name]
    cls = entry.obj
    done = []

    _check(isinstance(cls, type) and issubclass(cls, Method), f"{cls!r} must subclass glyph.Method")
    _check(cls.name == name, f"{cls.__name__}.name is {cls.name!r}, registered as {name!r}")
    _check(dataclasses.is_dataclass(cls.Config), f"{cls.__name__}.Config must be a dataclass")
    config = cls.Config()
    getattr(config, "validate", lambda: None)()
    _check(bool(cls.__doc__), f"{cls.__name__} needs a docstring (its first line is the summary)")
    done.append("config")

    for preset, overrides in (entry.catalogue.get("presets") or {}).items():
        apply_overrides(config, overrides, f"preset '{preset}'")
    done.append("presets")

    options = run_options(cls)
    for o in options:
        _check(bool(o.opt.help.strip()), f"{cls.__name__}.run option '{o.name}' needs help text")
    done.append("run-signature")

    from .registry import method_info

    json.dumps(method_info(entry), default=str)
    done.append("info")

    if entry.ref:
        from .interface import stale

        why = stale(entry.ref, cls)
        _check(why is None, f"interface file out of date: {why}")
        done.append("interface")

    if cls.trainable:
        _check(bool(cls.parts), f"trainable method '{name}' must name its networks in `parts`")
        _check(set(cls.ema_parts) <= set(cls.parts), f"ema_parts {cls.ema_parts} must be a subset of parts")
        presets = entry.catalogue.get("presets") or {}
        _check("tiny" in presets, f"trainable method '{name}' needs a 'tiny' preset so tests run in seconds")
        method = cls(apply_overrides(config, presets["tiny"], "preset 'tiny'"))
        nets = method.build()
        _check(set(nets) == set(cls.parts), f"build() returned parts {sorted(nets)}, expected {sorted(cls.parts)}")
        optimizers = method.configure_optimizers()
        _check(bool(optimizers), "configure_optimizers() returned no optimizer")
        import torch

        with torch.no_grad():
            images = method.preview(2).detach()
        _check(images.ndim == 4 and images.shape[0] == 2, f"preview(2) must be [2, C, H, W], got {tuple(images.shape)}")
        _check(float(images.min()) >= 0.0 and float(images.max()) <= 1.0, "preview() images must lie in [0, 1]")
        done.append("build")
        done.append(_check_training(cls, method.config, workdir))

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(workdir) if workdir else Path(tmp)
        opts: dict[str, Any] = cls.self_test_options(base)
        if opts:
            ctx = RunContext(device="cpu", seed=0)
            cls(config).run(ctx, **opts)
            _check(not ctx.report.problems, f"self-test run reported problems: {ctx.report.problems}")
            _check(bool(ctx.report.written), "self-test run wrote nothing")
            for path in ctx.report.written:
                _check(Path(path).is_file(), f"run reported {path} as written but it does not exist")
                if Path(path).suffix.lower() in (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"):
                    read_image(path)
            done.append("run")
    return done


def _check_training(cls: type[Method], tiny: Any, workdir: Path | None) -> str:
    """Two real training steps through glyph's trainer, a checkpoint, and the run folder loaded back."""
    import dataclasses as dc

    from .data.sources import open_dataset
    from .trainer import TrainConfig, Trainer, load_run

    fields = {f.name for f in dc.fields(tiny)}
    _check({"steps", "batch"} <= fields, f"{cls.__name__}.Config needs 'steps' and 'batch' fields for the trainer")
    tiny = dc.replace(tiny, steps=2)
    data = cls.self_test_data() or open_dataset("embedded")
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(workdir or tmp) / "check-run"
        trainer = Trainer(cls(tiny), data, run, TrainConfig(log_every=1, sample_every=2, ckpt_every=2, samples=4,
                                                            precision="fp32"), "cpu", quiet=True)
        _check(trainer.fit() == "finished", "two training steps did not finish")
        _check((run / "samples" / "step-000002.png").is_file(), "the trainer wrote no sample grid")
        loaded = load_run(run, cls.name)
        import torch

        with torch.no_grad():
            images = loaded.preview(2).detach()
        _check(float(images.min()) >= 0.0 and float(images.max()) <= 1.0, "a reloaded run must preview in [0, 1]")
    return "train"
