"""The Method role: one generative, restoring or post-processing recipe.

A method is a class with a typed ``Config`` dataclass (its defaults), the networks it trains
(``parts``), and a ``run`` verb that the CLI exposes as ``glyph run NAME``. The same small surface
fits every built-in:

===========  ==============================================================================
dcgan        parts G, D; two optimizers; EMA of G (``ema_parts``); ``preview`` samples z
progan       like dcgan, plus ``phase(step)`` giving the resolution and fade-in alpha, so the
             networks and the data resolution change during training and resume mid-stage
ddpm         part unet; the noise schedule and the sampler are plain objects built from Config;
             ``run`` takes the sampler and its step count
vae          parts encoder, decoder; ``run`` samples or reconstructs (``--reconstruct``)
dsfgan       conditional: ``make_batch`` draws k references of one writer (never the target),
             the template glyph and the target; ``run`` takes ``--refs`` and ``--text``
restorecae   paired: ``make_batch`` damages clean glyphs on the fly beside their template
filter       ``trainable = False``: no parts, only ``run`` (image in, image out)
===========  ==============================================================================

Networks (the Model role) are plain ``nn.Module`` classes in the method's ``model.py``; they know
nothing about optimizers, data or sampling loops. The generic trainer in core calls, per step,
``phase`` -> ``make_batch`` -> ``train_step`` and keeps EMA copies, precision, checkpoints and
events; it knows nothing about GANs. Plugins return numbers and images: ``run`` writes files and
reports through the :class:`RunContext` it is given, and never prints.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import GlyphError

if TYPE_CHECKING:  # torch is imported by methods that need it, not by glyph's core import
    import torch


@dataclass(frozen=True)
class Opt:
    """Describes one option of a method's ``run`` for the CLI: ``Annotated[float, Opt("help")]``.

    :param help: one line for ``--help``.
    :param flag: the option's name on the command line when it differs from ``--param-name``.
    :param short: an optional one-letter alias such as ``"-o"``.
    """

    help: str
    flag: str | None = None
    short: str | None = None


@dataclass
class RunReport:
    """What a ``run`` produced, for the CLI to print: files written, inputs skipped and why, numbers."""

    written: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)


@dataclass
class RunContext:
    """Everything a method's ``run`` needs from the host: device, seed, and a place to report.

    :param device: the user's device request (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``).
    :param seed: the global ``--seed`` or None.
    :param precision: the global ``--precision`` (:data:`glyph.device.PRECISIONS`); :func:`glyph.load` resolves it
        into :attr:`Method.precision`, which methods use where they can.
    """

    device: str = "auto"
    seed: int | None = None
    precision: str = "auto"
    report: RunReport = field(default_factory=RunReport)
    progress: Callable[[str, int, int], None] | None = None  # set by the CLI: shows (task, done, total)
    # Set by a host that can stop work (glyph studio): asked at every progress step, True stops the job there.
    cancel: Callable[[], bool] | None = None

    def torch_device(self) -> torch.device:
        """Resolve :attr:`device` (``auto`` picks CUDA when present, then MPS, then CPU)."""
        from .device import resolve_device

        return resolve_device(self.device)

    def save_image(self, path: Path, image: Any) -> Path:
        """Write ``image`` (HxW or HxWxC floats in [0,1], or a PIL image) whole or not at all.

        :raises GlyphError: when ``path`` has no image suffix (``--out newdir/`` must not become a file
            named ``newdir``). Alpha written to a JPEG is dropped, and a note says so.
        """
        from .imageio import IMAGE_SUFFIXES, to_pil, write_image

        target = Path(path)
        if target.suffix.lower() not in IMAGE_SUFFIXES:
            raise GlyphError(f"{target} has no image suffix; give a file name such as {target.name or 'out'}.png "
                             f"(a folder name does not fit here)")
        image = to_pil(image)
        if target.suffix.lower() in (".jpg", ".jpeg") and image.mode in ("LA", "RGBA"):
            self.note(f"{target}: JPEG has no alpha channel, so the transparency was dropped; write a .png to keep it")
        write_image(target, image)
        self.report.written.append(Path(path))
        return Path(path)

    def skip(self, source: str | Path, why: str) -> None:
        """Record that an input was not processed, and why (one line, shown to the user)."""
        self.report.problems.append((str(source), why))

    def note(self, text: str) -> None:
        """Record an informational line for the user."""
        self.report.notes.append(text)

    def advance(self, task: str, done: int, total: int) -> None:
        """Report progress of a long step (``done`` of ``total``); the host shows it, a plain caller sees nothing.

        :raises Cancelled: when the host's :attr:`cancel` says to stop (methods report progress between
            batches and steps, so a job stops at the next one).
        """
        self.check_cancel()
        if self.progress is not None:
            self.progress(task, done, total)

    def check_cancel(self) -> None:
        """Raise :class:`glyph.errors.Cancelled` when the host asked to stop; call it between units of work."""
        if self.cancel is not None and self.cancel():
            from .errors import Cancelled

            raise Cancelled("stopped on request; nothing more was done")


class Method:
    """Base class of every method. Subclasses set the class attributes and override what they use.

    Class attributes:
        name: the unique name (``glyph run NAME``).
        Config: a dataclass; its field defaults are the method's defaults.
        trainable: False for methods that only process images (no parts, no training).
        parts: names of the networks saved as ``weights/<part>.safetensors``.
        ema_parts: the parts of which the trainer keeps an exponential moving average.
        inference_parts: the parts ``run`` needs (None: all); the others may be left out of shipped weights.
        inputs: what ``run`` consumes, name -> one-line description (shown by ``glyph info``).
        default_data: the dataset ``glyph train NAME`` uses without ``--data`` (None: ``--data`` is required).

    What a loaded method can do for a caller is declared in :mod:`glyph.api` (``Sampler``, ``Writer``,
    ``Restorer``); :func:`glyph.load` sets :attr:`precision` (``fp32``, ``bf16`` or ``fp16``) for methods to use.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type] = type(None)
    trainable: ClassVar[bool] = True
    parts: ClassVar[tuple[str, ...]] = ()
    ema_parts: ClassVar[tuple[str, ...]] = ()
    inference_parts: ClassVar[tuple[str, ...] | None] = None
    inputs: ClassVar[Mapping[str, str]] = {}
    default_data: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:  # every method's own build: a config too large for memory is one line
            cls.build = _memory_checked(cls.__dict__["build"])  # type: ignore[method-assign]

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()
        self.nets: dict[str, torch.nn.Module] = {}
        self.schedulers: dict[str, Any] = {}  # learning-rate schedulers the trainer saves and restores
        self.precision = "fp32"  # what glyph.load resolved from its precision= (the CLI's global --precision)

    # ---- training (used by the generic trainer) -------------------------------------------
    def build(self) -> dict[str, torch.nn.Module]:
        """Create the networks, keyed by part name, and keep them in ``self.nets``."""
        raise GlyphError(f"method '{self.name}' does not train; it has no networks to build")

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Return the optimizers by name (e.g. ``{"G": ..., "D": ...}``) for ``self.nets``."""
        raise GlyphError(f"method '{self.name}' does not train; it has no optimizers")

    def phase(self, step: int) -> dict[str, Any]:
        """Per-step schedule state derived from ``step`` alone (so resume needs nothing else).

        Progressive methods return e.g. ``{"resolution": 16, "alpha": 0.4, "batch": 32}``; the
        trainer feeds data at ``resolution``. The default is a fixed schedule: ``{}``.
        """
        return {}

    def make_batch(self, data: Any, index: torch.Tensor, phase: Mapping[str, Any]) -> dict[str, Any]:
        """Turn dataset rows ``index`` of ``data`` (a :class:`glyph.GlyphData`) into a batch.

        The default gives ``{"image": float images in [-1, 1]}``; conditional methods add the
        references, the template, damaged copies... built on the device from ``data``.
        """
        images = data.images[index].float().div_(127.5).sub_(1.0)
        return {"image": images}

    def train_step(self, batch: Mapping[str, Any], step: int, trainer: Any) -> dict[str, float]:
        """One optimisation step over ``batch``; return the losses to log (floats or 0-d tensors).

        ``trainer`` (a :class:`glyph.trainer.Trainer`) offers ``autocast()`` for forward passes,
        ``backward(loss)`` instead of ``loss.backward()`` and ``step(name)`` instead of
        ``optimizer.step()``: loss scaling, the non-finite guard and the gradient average across
        processes happen there. The method orders its own updates (e.g. D then G).
        """
        raise GlyphError(f"method '{self.name}' does not train")

    def train_rows(self, data: Any) -> torch.Tensor | None:
        """The dataset rows to train on (e.g. a split), or None for all of them."""
        return None

    def evaluate(self, data: Any) -> dict[str, float]:
        """Numbers measured during training at ``eval_every`` (with EMA weights); a ``score`` key (lower is
        better) marks the best checkpoint. The default measures nothing."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        """State besides networks and optimizers that resume needs (tensors, numbers, strings)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`extra_state`."""

    def preview(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [0,1], shape [n, C, H, W], for the trainer's sample grids."""
        raise GlyphError(f"method '{self.name}' has no preview")

    # ---- use -------------------------------------------------------------------------------
    def run(self, ctx: RunContext, **options: Any) -> None:
        """The ``glyph run NAME`` verb. Options are keyword-only parameters annotated with
        ``Annotated[type, Opt("help")]``; the CLI builds its flags from this signature."""
        raise NotImplementedError(f"{type(self).__name__} must define run()")

    @classmethod
    def shipped_weights(cls) -> Path | None:
        """The run folder of default weights shipped inside the method's package (``default/`` next to its
        module, holding ``config.json`` and ``weights/``), or None."""
        import sys

        module = sys.modules.get(cls.__module__)
        folder = Path(module.__file__).parent / "default" if module and module.__file__ else None
        return folder if folder is not None and (folder / "config.json").is_file() else None

    @classmethod
    def self_test_data(cls) -> Any:
        """A small GlyphData for the conformance checks' two training steps (None: the embedded dataset)."""
        return None

    @classmethod
    def self_test_options(cls, workdir: Path) -> dict[str, Any]:
        """Options for a small real ``run`` that :func:`glyph.testing.check_method` executes.

        Create any inputs you need under ``workdir``. Return ``{}`` to skip the run check.
        """
        return {}

    @classmethod
    def describe_config(cls) -> list[dict[str, Any]]:
        """The Config fields as dicts (name, type, default, help), for ``glyph info``."""
        from .config import config_fields

        return [dataclasses.asdict(f) for f in config_fields(cls.Config)]


@dataclass(frozen=True)
class RunOption:
    """One keyword option of a method's ``run``, read from its annotated signature."""

    name: str
    type: Any
    default: Any
    required: bool
    opt: Opt
    config_default: Any = None  # set when the option overrides a Config field of the same name

    @property
    def flag(self) -> str:
        """The option on the command line: :attr:`Opt.flag`, else ``--name`` with dashes for underscores."""
        return self.opt.flag or "--" + self.name.replace("_", "-")

    @property
    def plain_type(self) -> Any:
        """What a command line parses the value as: bool, int, float, str or Path (``X | None`` counts as ``X``;
        a Literal as str, see :attr:`choices`; anything else as str)."""
        tp = _without_none(self.type)
        return tp if tp in (bool, int, float, str, Path) else str

    @property
    def choices(self) -> list[str] | None:
        """The allowed values, as text, of an option typed ``Literal[...]`` (or ``Literal[...] | None``); else None."""
        import typing

        tp = _without_none(self.type)
        return [str(a) for a in typing.get_args(tp)] if typing.get_origin(tp) is typing.Literal else None


def _without_none(tp: Any) -> Any:
    """``X`` for ``X | None``; str for a union of several types (a command line gives text); else ``tp``."""
    import types
    import typing

    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return tp


# Options ``glyph run NAME`` adds to every method's own (``help``: -h/--help); run() may not take these names.
HOST_OPTIONS = frozenset({"preset", "weights", "device", "seed", "help"})


def run_options(method_cls: type[Method]) -> list[RunOption]:
    """Read the options of ``method_cls.run`` (keyword-only, ``Annotated[type, Opt(...)]``).

    :raises TypeError: when a parameter is not keyword-only, lacks an :class:`Opt` annotation or takes a name
        of :data:`HOST_OPTIONS`, so plugin authors learn it from ``glyph.testing.check_method``, not from users.
    """
    import inspect
    import typing

    hints = typing.get_type_hints(method_cls.run, include_extras=True)
    config_defaults = {}
    if dataclasses.is_dataclass(method_cls.Config):
        config = method_cls.Config()
        config_defaults = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    out = []
    for p in list(inspect.signature(method_cls.run).parameters.values())[2:]:  # self, ctx
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"{method_cls.__name__}.run: parameter '{p.name}' must be keyword-only (after *)")
        if p.name in HOST_OPTIONS:
            raise TypeError(f"{method_cls.__name__}.run: '{p.name}' is an option glyph adds to every method "
                            f"({', '.join(sorted(HOST_OPTIONS))}); give yours another name")
        hint = hints.get(p.name)
        if typing.get_origin(hint) is not typing.Annotated:
            raise TypeError(f"{method_cls.__name__}.run: annotate '{p.name}' as Annotated[type, Opt('help')]")
        base, *extra = typing.get_args(hint)
        opt = next((e for e in extra if isinstance(e, Opt)), None)
        if opt is None:
            raise TypeError(f"{method_cls.__name__}.run: '{p.name}' needs an Opt('help') in its Annotated[...]")
        required = p.default is inspect.Parameter.empty
        # An option named like a Config field with default None means "the config's value": the
        # default is shown from Config, its one home, and the method falls back to it.
        from_config = config_defaults.get(p.name) if p.default is None else None
        out.append(RunOption(p.name, base, None if required else p.default, required, opt, from_config))
    return out


def _memory_checked(build: Callable[[Any], dict[str, torch.nn.Module]]) -> Callable[[Any], dict[str, torch.nn.Module]]:
    """``build`` with an allocation failure turned into a :class:`GlyphError`.

    A size field set absurdly (``--set z_dim=1000000000``, a damaged run's ``config.json``) asks for networks
    of terabytes: torch refuses the allocation with a RuntimeError, which is the user's to fix.
    """
    @functools.wraps(build)
    def checked(self: Any) -> dict[str, torch.nn.Module]:
        try:
            return build(self)
        except (MemoryError, RuntimeError) as e:
            text = str(e)
            if not isinstance(e, MemoryError) and "allocate" not in text and "out of memory" not in text:
                raise
            asked = re.search(r"allocate (\d+) bytes", text)
            size = f" (they asked for {int(asked.group(1)) / 1e9:,.0f} GB)" if asked else ""
            raise GlyphError(f"method '{self.name}': its networks do not fit in memory with this config{size}; "
                             f"check its size fields (latent size, widths, channels) in --set, --config or the "
                             f"run's config.json") from None

    return checked
