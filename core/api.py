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

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import GlyphError

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from .method import Method, RunContext

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


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
              writer: str | Path | None = None, seed: int | None = None, ctx: RunContext | None = None
              ) -> dict[str, Image.Image]:
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
        ``fp32``, ``bf16`` or ``fp16``; methods use it where they can (ddpm's sampling, dsfgan's adaptation).
    :raises GlyphError: an unknown method, a method without shipped weights and no ``weights``, a bad device.
    """
    from .device import auto_precision, resolve_device, validate_device_spec
    from .loader import get_registry

    entry = get_registry().method(method)
    cls = entry.obj
    dev = resolve_device(validate_device_spec(device))
    if precision not in PRECISIONS:
        raise GlyphError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if cls.trainable:
        from .train import load_run

        folder = weights if weights is not None else cls.shipped_weights()
        if folder is None:
            raise GlyphError(f"method '{method}' has no shipped weights; train it (glyph train {method} --data ...) "
                             f"and pass weights='runs/{method}'")
        model = load_run(Path(folder).expanduser(), method, device=dev)
    else:
        if weights is not None:
            raise GlyphError(f"method '{method}' has no weights to load; leave out weights=")
        model = cls(cls.Config())
    model.precision = auto_precision(dev) if precision == "auto" else precision
    return model


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
