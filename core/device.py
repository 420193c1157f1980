"""Turning a ``--device`` request into a torch device, with errors that say what is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import GlyphError

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "auto (CUDA when present, then MPS, then CPU), cpu, cuda, cuda:N or mps"


def resolve_device(spec: str = "auto") -> torch.device:
    """Resolve ``auto|cpu|cuda|cuda:N|mps`` to a ``torch.device`` that exists on this machine."""
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise GlyphError("--device mps: MPS is not available on this machine; use --device cpu or auto")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise GlyphError(f"--device {spec}: no CUDA GPU is visible; use --device cpu or auto")
        index = spec.partition(":")[2]
        if index:
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                raise GlyphError(
                    f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                    f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
                )
        return torch.device(spec)
    raise GlyphError(f"--device {spec!r} is not a device; use {DEVICE_HELP}")


def validate_device_spec(spec: str) -> str:
    """Check the spelling of a device request without importing torch (for the CLI's global flag)."""
    s = (spec or "").strip().lower()
    if s in ("auto", "cpu", "cuda", "mps") or (s.startswith("cuda:") and s[5:].isdigit()):
        return s
    raise GlyphError(f"--device {spec!r} is not a device; use {DEVICE_HELP}")
