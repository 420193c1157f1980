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


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 arithmetic on ``device`` is native, so autocast to bf16 speeds things up.

    On CUDA that is Ampere or newer. On a CPU it takes AVX512-BF16 or AMX: elsewhere oneDNN falls back to a
    reference path. Measured on an AVX2 AMD EPYC (no AVX-512): a 1024² bf16 matmul ran at 0.76 GFLOP/s against
    77 in fp32, and a bf16-autocast training step was several times slower than fp32, where a Sapphire Rapids
    CPU ran the same step twice as fast in bf16.
    """
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(cpu, name, lambda: False)()) for name in probes)
    return False


def auto_precision(device: torch.device) -> str:
    """The precision ``auto`` means on ``device``: bf16 where it is native (see :func:`bf16_is_fast`), else
    fp16 on an older CUDA GPU, else fp32."""
    if bf16_is_fast(device):
        return "bf16"
    return "fp16" if device.type == "cuda" else "fp32"
