"""Turning a ``--device`` request into a torch device, with errors that say what is available.

Every CUDA device glyph hands around carries an index (``cuda:0``, never a bare ``cuda``): several
``torch.cuda`` functions (``set_device``, the RNG state calls) refuse a device without one, and a bare
``cuda`` is what ``auto`` used to return on every GPU machine. :func:`as_device` is the one place that
turns any spelling or ``torch.device`` into such a device; :func:`resolve_device` also checks that it exists.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING

from .errors import GlyphError

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "auto (CUDA when present, then MPS, then CPU), cpu, cuda, cuda:N or mps"


def _mps_available() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(spec: str = "auto") -> torch.device:
    """Resolve ``auto|cpu|cuda|cuda:N|mps`` to a ``torch.device`` that exists on this machine.

    ``auto`` and ``cuda`` give the current CUDA device *with its index*. A device this machine lacks is a
    :class:`GlyphError` that names what it has.
    """
    import torch

    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if _cuda_count():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            where = "this Mac" if platform.system() == "Darwin" else f"{platform.system() or 'this'} machines"
            raise GlyphError(f"--device mps: MPS (Apple's GPU backend) is not available on {where}; "
                             f"use --device cpu or auto")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        count = _cuda_count()
        if not count:
            raise GlyphError(f"--device {spec}: no CUDA GPU is visible to PyTorch {torch.__version__} on this "
                             f"machine; use --device cpu or auto")
        index = spec.partition(":")[2]
        if not index:
            return torch.device("cuda", torch.cuda.current_device())
        if not index.isdigit() or int(index) >= count:
            raise GlyphError(f"--device {spec}: this machine has {count} CUDA device(s) "
                             f"({'cuda:0' if count == 1 else f'cuda:0..cuda:{count - 1}'}); use one of those or auto")
        return torch.device("cuda", int(index))
    raise GlyphError(f"--device {spec!r} is not a device; use {DEVICE_HELP}")


def as_device(device: torch.device | str) -> torch.device:
    """Any device a Python caller passes (``"cuda"``, ``torch.device("cuda")``, ``"cpu"``...) as a checked
    ``torch.device``, CUDA devices with their index (see the module docstring)."""
    import torch

    if isinstance(device, torch.device):
        if device.type == "cuda" and device.index is not None:
            return resolve_device(f"cuda:{device.index}")
        return resolve_device(device.type)
    return resolve_device(str(device))


def validate_device_spec(spec: str) -> str:
    """Check the spelling of a device request without importing torch (for the CLI's global flag)."""
    s = (spec or "").strip().lower()
    if s in ("auto", "cpu", "cuda", "mps") or (s.startswith("cuda:") and s[5:].isdigit()):
        return s
    raise GlyphError(f"--device {spec!r} is not a device; use {DEVICE_HELP}")


def prepare_cuda(device: torch.device, benchmark: bool = True) -> None:
    """Make ``device`` the current CUDA device and let cuDNN pick its fastest kernels (a no-op elsewhere)."""
    import torch

    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = benchmark
    torch.cuda.set_device(as_device(device))


def cuda_rng_state(device: torch.device) -> torch.Tensor:
    """The CUDA generator state of ``device`` (for checkpoints)."""
    import torch

    return torch.cuda.get_rng_state(as_device(device))


def set_cuda_rng_state(state: torch.Tensor, device: torch.device) -> None:
    """Restore a CUDA generator state saved by :func:`cuda_rng_state`."""
    import torch

    torch.cuda.set_rng_state(state, as_device(device))


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
