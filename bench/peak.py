"""The machine's measured matmul peak in fp32 and bf16: the yardstick the methods suite divides by.

Square matmuls of 1024-2048, best of a few, with every thread torch uses by default. On CPUs with AMX or
AVX512-BF16 the bf16 peak is several times the fp32 one, which is why glyph trains in bf16 autocast there. On
other CPUs (AVX2 only) bf16 is emulated, about 100x slower than fp32 (0.76 against 77 GFLOP/s at one thread on
an AMD EPYC), so it is measured once at 512 to show that, and glyph's ``auto`` precision is fp32.
"""

from __future__ import annotations

import time

import torch

SIZES = (1024, 1536, 2048)
# What a suite records instead of a bf16 number on a CPU where bf16 is emulated.
NO_NATIVE_BF16 = "skipped: this CPU has no native bf16 (AVX512-BF16 or AMX)"


def matmul_gflops(dtype: torch.dtype, n: int, repeat: int = 3, work: float = 2e10) -> float:
    """Best GFLOP/s of an ``n`` x ``n`` by ``n`` x ``n`` matmul in ``dtype`` (2 n^3 flops each), each timing
    doing about ``work`` flops."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype)
    b = torch.randn(n, n, generator=g).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    torch.mm(a, b, out=out)  # warm-up: oneDNN/MKL pick and JIT their kernels on the first call
    # Enough multiplications per timing that the clock's resolution and thread wake-up do not count.
    per = max(1, int(work / (2 * n**3)))
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(per):
            torch.mm(a, b, out=out)
        best = min(best, (time.perf_counter() - t) / per)
    return 2 * n**3 / best / 1e9


def peak_gflops(dtype: torch.dtype, quick: bool = False) -> tuple[float, int]:
    """(best GFLOP/s over :data:`SIZES`, the size that reached it); ``quick`` tries one size, twice. Emulated
    bf16 is measured once at 512 (the full sizes would take minutes)."""
    from glyph.device import bf16_is_fast

    if dtype == torch.bfloat16 and not bf16_is_fast(torch.device("cpu")):
        return matmul_gflops(dtype, 512, 1, work=1e9), 512
    sizes = SIZES[:1] if quick else SIZES
    results = {n: matmul_gflops(dtype, n, 2 if quick else 3) for n in sizes}
    n = max(results, key=results.__getitem__)
    return results[n], n


def run(quick: bool = False) -> dict:
    from glyph.device import bf16_is_fast

    out: dict = {"threads": torch.get_num_threads(), "bf16_native": bf16_is_fast(torch.device("cpu"))}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        gflops, n = peak_gflops(dtype, quick)
        out[f"matmul_gflops_{name}"] = round(gflops, 1)
        out[f"matmul_size_{name}"] = n
    out["bf16_over_fp32"] = round(out["matmul_gflops_bf16"] / out["matmul_gflops_fp32"], 2)
    return out
