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

# The one precision vocabulary: training, loading, sampling, adaptation and the judge all take these words, and
# :func:`resolve_precision` is the one place that turns them into a concrete choice.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
PRECISION_HELP = "auto (bf16 where the hardware computes it natively, fp16 on older CUDA GPUs, else fp32), fp32, " \
                 "bf16, fp16 (CUDA only)"


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


def resolve_precision(precision: str, device: torch.device) -> str:
    """The concrete precision (``fp32``, ``bf16`` or ``fp16``) that ``precision`` means on ``device``.

    ``auto`` is :func:`auto_precision`. fp16 is refused off CUDA: training needs a GradScaler and CPU fp16
    kernels are slow or missing, so a run trained in fp16 resumes elsewhere with fp32 or bf16.

    :raises GlyphError: a word outside :data:`PRECISIONS`, or fp16 on a device other than CUDA.
    """
    if precision not in PRECISIONS:
        raise GlyphError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return auto_precision(device)
    if precision == "fp16" and device.type != "cuda":
        raise GlyphError(f"--precision fp16 needs a CUDA device; on {device.type} use --precision fp32 (or bf16), "
                         f"also to resume a run trained in fp16")
    return precision


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a concrete precision (None for fp32: no autocast)."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
