"""Device and precision choice: --device specs, and `auto` precision only picking bf16 where it is native."""

from __future__ import annotations

import re

import pytest
import torch

from glyph.device import (
    as_device,
    auto_precision,
    bf16_is_fast,
    cuda_rng_state,
    prepare_cuda,
    resolve_device,
    resolve_precision,
    set_cuda_rng_state,
    validate_device_spec,
)
from glyph.errors import GlyphError
from glyph.eval.metrics import EvalContext

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
    with pytest.raises(GlyphError, match="CUDA"):
        EvalContext(precision="fp16")  # the judge takes the same words and the same rule
    for call in (lambda: resolve_precision("half", CPU), lambda: EvalContext(precision="half")):
        with pytest.raises(GlyphError, match="use one of auto, fp32, bf16, fp16"):
            call()


def test_device_specs():
    assert resolve_device("cpu") == CPU and resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert validate_device_spec(" CUDA:1 ") == "cuda:1"
    with pytest.raises(GlyphError, match="not a device"):
        validate_device_spec("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(GlyphError, match="no CUDA GPU"):
            resolve_device("cuda")


@pytest.fixture
def fake_cuda(monkeypatch):
    """A machine with ``count`` CUDA GPUs as far as glyph can tell: torch.cuda's queries are faked, and the
    calls that reject an unindexed device (as the real ``torch.cuda.set_device`` does) record what they got."""
    calls: list[tuple[str, torch.device]] = []

    def indexed(name):
        def call(*args):
            device = torch.device(args[-1])
            if device.index is None:
                raise ValueError(f"Expected a torch.device with a specified index or an integer, but got:{device}")
            calls.append((name, device))
            return torch.zeros(8, dtype=torch.uint8)
        return call

    def install(count: int = 1, current: int = 0, bf16: bool = True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        for name in ("set_device", "get_rng_state", "set_rng_state"):
            monkeypatch.setattr(torch.cuda, name, indexed(name))
        return calls
    return install


def test_auto_and_bare_cuda_resolve_to_the_current_indexed_gpu(fake_cuda):
    fake_cuda(count=2, current=1)
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("CUDA:0") == torch.device("cuda", 0)
    assert as_device("cuda") == as_device(torch.device("cuda")) == torch.device("cuda", 1)
    assert as_device(torch.device("cuda", 0)) == torch.device("cuda", 0)
    assert as_device("cpu") == CPU and as_device(CPU) == CPU


def test_cuda_calls_get_an_index_on_every_path(fake_cuda, tmp_path):
    """The bug a real H200 showed: `auto` gave a bare `cuda` and `torch.cuda.set_device` refused it."""
    calls = fake_cuda()
    bare = torch.device("cuda")
    prepare_cuda(bare)
    set_cuda_rng_state(cuda_rng_state(bare), bare)
    assert calls == [("set_device", torch.device("cuda", 0)), ("get_rng_state", torch.device("cuda", 0)),
                     ("set_rng_state", torch.device("cuda", 0))]
    prepare_cuda(CPU)  # nothing to do on a CPU
    assert len(calls) == 3

    from glyph.data.sources import open_dataset
    from glyph.loader import get_registry
    from glyph.trainer import Trainer

    method = get_registry().method("dcgan").obj()
    for spec in ("auto", "cuda", bare):  # what the CLI's default and a Python caller pass
        trainer = Trainer(method, open_dataset("embedded"), tmp_path / "run", device=spec)
        assert trainer.device == torch.device("cuda", 0) and trainer.precision == "bf16"
    assert EvalContext(device="cuda").device == torch.device("cuda", 0)


@pytest.mark.parametrize(("spec", "count", "needle"), [
    ("cuda:7", 1, "this machine has 1 CUDA device(s) (cuda:0)"),
    ("cuda:2", 2, "cuda:0..cuda:1"),
    ("cuda", 0, "no CUDA GPU is visible"),
    ("auto", 0, None),
])
def test_devices_a_machine_lacks_get_one_line(fake_cuda, spec, count, needle):
    fake_cuda(count=count)
    if needle is None:
        assert resolve_device(spec).type in ("cpu", "mps")
        return
    with pytest.raises(GlyphError, match=re.escape(needle)):
        resolve_device(spec)


def test_mps_off_apple_says_so(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(GlyphError, match=r"MPS .*not available.*use --device cpu or auto"):
        resolve_device("mps")


@pytest.mark.parametrize(("args", "needle"), [
    (["--device", "cuda", "train", "dcgan", "--data", "embedded"], "no CUDA GPU is visible"),
    (["--device", "cuda:7", "train", "dcgan", "--data", "embedded"], "no CUDA GPU is visible"),
    (["--device", "mps", "train", "dcgan", "--data", "embedded"], "MPS"),
    (["--device", "tpu", "list"], "is not a device"),
    (["--device", "cuda:x", "list"], "is not a device"),
    (["train", "dcgan", "--data", "embedded", "--device", "cuda"], "no CUDA GPU is visible"),
    (["train", "dcgan", "--data", "embedded", "--device", "cpu", "--precision", "fp16"], "fp16 needs a CUDA"),
    (["--device", "cuda", "run", "dcgan", "--n", "4"], "no CUDA GPU is visible"),
    (["--device", "cuda", "eval", "--real", "embedded", "--fake", "embedded", "--metrics", "content_acc"],
     "no CUDA GPU is visible"),
])
def test_every_device_spelling_gives_one_clean_line_without_a_gpu(capsys, monkeypatch, tmp_path, args, needle):
    from glyph.cli.main import main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.chdir(tmp_path)  # the command line in this process (seconds saved per case), from an empty folder
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err
    assert exit_.value.code in (1, 2), err
    assert needle in err and "internal error" not in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.safetensors"))
