"""Device and precision choice: --device specs, and `auto` precision only picking bf16 where it is native."""

from __future__ import annotations

import pytest
import torch

from glyph.device import auto_precision, bf16_is_fast, resolve_device, validate_device_spec
from glyph.errors import GlyphError
from glyph.eval.metrics import EvalContext
from glyph.train import resolve_precision

CPU = torch.device("cpu")


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected"),
                         [(False, False, "fp32"), (True, False, "bf16"), (False, True, "bf16")])
def test_auto_precision_takes_bf16_only_where_the_cpu_has_it(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert bf16_is_fast(CPU) == (expected == "bf16")
    assert auto_precision(CPU) == expected
    assert resolve_precision("auto", CPU) == expected
    assert EvalContext(device=CPU).precision == expected  # the judge follows the same rule
    assert resolve_precision("bf16", CPU) == "bf16"  # asked for explicitly, it is honoured


def test_precision_errors_teach():
    with pytest.raises(GlyphError, match="CUDA"):
        resolve_precision("fp16", CPU)
    with pytest.raises(GlyphError, match="auto, bf16 or fp32"):
        EvalContext(precision="fp16")


def test_device_specs():
    assert resolve_device("cpu") == CPU and resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert validate_device_spec(" CUDA:1 ") == "cuda:1"
    with pytest.raises(GlyphError, match="not a device"):
        validate_device_spec("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(GlyphError, match="no CUDA GPU"):
            resolve_device("cuda")
