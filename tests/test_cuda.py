"""CUDA-only assertions: skipped on machines without a GPU, run by ``python -m bench gpu`` on one.

They hold what only a real GPU can show: the default ``--device auto`` trains (a bare ``cuda`` device once broke
every GPU machine), runs move between GPU and CPU without losing a step, fp16 trains with its loss scaler, and
every method steps, saves and generates on the GPU.
"""

from __future__ import annotations

import json

import pytest
import torch

from glyph.checkpoint import RunDir, load_state

from .conftest import run_glyph

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (python -m bench gpu)")]

TINY = ["--data", "embedded", "--preset", "tiny", "--set", "train.log_every=1", "--set", "train.sample_every=0"]


def _steps(run) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_default_device_trains_on_the_gpu_with_an_indexed_device(tmp_path):
    run = tmp_path / "run"
    r = run_glyph("train", "dcgan", *TINY, "--steps", "4", "--out", str(run))  # --device auto
    assert r.code == 0, r.err
    state = load_state(RunDir(run).latest_checkpoint() / "trainer.pt")
    assert "cuda" in state["rng"]  # trained on the GPU
    r = run_glyph("--device", "cuda", "train", "dcgan", "--out", str(run), "--resume", "--steps", "6")
    assert r.code == 0, r.err
    assert _steps(run) == [1, 2, 3, 4, 5, 6]


def test_a_gpu_run_resumes_on_the_cpu_and_back(tmp_path):
    run = tmp_path / "run"
    assert run_glyph("--device", "cuda:0", "train", "dcgan", *TINY, "--steps", "3", "--out", str(run)).code == 0
    r = run_glyph("--device", "cpu", "train", "dcgan", "--out", str(run), "--resume", "--steps", "5")
    assert r.code == 0, r.err
    r = run_glyph("--device", "cuda", "train", "dcgan", "--out", str(run), "--resume", "--steps", "7")
    assert r.code == 0, r.err
    assert _steps(run) == list(range(1, 8))
    r = run_glyph("--device", "cuda", "run", "dcgan", "--weights", str(run), "--n", "8", "--out",
                  str(tmp_path / "g.png"))
    assert r.code == 0, r.err and (tmp_path / "g.png").is_file()


def test_fp16_trains_with_a_loss_scaler_and_a_cpu_resume_says_what_to_do(tmp_path):
    run = tmp_path / "run"
    r = run_glyph("--device", "cuda", "train", "dcgan", *TINY, "--steps", "3", "--precision", "fp16", "--out", str(run))
    assert r.code == 0, r.err
    assert "scaler" in load_state(RunDir(run).latest_checkpoint() / "trainer.pt")
    r = run_glyph("--device", "cpu", "train", "dcgan", "--out", str(run), "--resume", "--steps", "4")
    assert r.code == 1 and "fp16 needs a CUDA device" in r.err and "internal error" not in r.err
    r = run_glyph("--device", "cpu", "train", "dcgan", "--out", str(run), "--resume", "--steps", "4", "--precision",
                  "fp32")
    assert r.code == 0, r.err
    assert _steps(run)[-1] == 4


def test_minutes_budget_stops_and_resumes_on_the_gpu(tmp_path):
    run = tmp_path / "run"
    r = run_glyph("--device", "cuda", "train", "dcgan", *TINY, "--steps", "5", "--minutes", "0.00001", "--out",
                  str(run))
    assert r.code == 0 and "budget after step 1 of 5" in r.err, r.err
    r = run_glyph("--device", "cuda", "train", "dcgan", "--out", str(run), "--resume")
    assert r.code == 0, r.err
    assert _steps(run) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("method", ["dcgan", "vae", "progan", "ddpm", "restorecae", "dsfgan"])
def test_every_method_trains_saves_and_generates_on_the_gpu(method, tmp_path):
    from glyph.data.sources import open_dataset
    from glyph.loader import get_registry
    from glyph.trainer import Trainer, load_run, train_config_from

    entry = get_registry().method(method)
    from glyph.config import apply_overrides

    config = apply_overrides(entry.obj.Config(), {**entry.catalogue["presets"]["tiny"], "steps": 2}, "tiny")
    trainer = Trainer(entry.obj(config), open_dataset("embedded"), tmp_path / "run",
                      train_config_from({"sample_every": 0}), device="cuda", quiet=True)
    assert trainer.device == torch.device("cuda", torch.cuda.current_device())
    assert trainer.fit() == "finished"
    loaded = load_run(tmp_path / "run", method, device="cuda")
    assert all(p.device.type == "cuda" for net in loaded.nets.values() for p in net.parameters())
    with torch.no_grad():
        images = loaded.preview(4, generator=torch.Generator().manual_seed(0))
    assert images.shape[0] == 4 and torch.isfinite(images).all()
