"""dcgan: conformance, training on glyphs and on colour images, sampling, interpolation, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from glyph.imageio import read_image, write_image
from glyph.testing import check_method

from .conftest import run_glyph


def test_dcgan_conforms():
    assert {"build", "train"} <= set(check_method("dcgan"))


@pytest.mark.parametrize(("widths", "stride", "size"), [((512, 256, 128, 64), 2, 64), ((512, 256, 128, 64), 3, 96),
                                                        ((1024, 512, 512, 256, 256, 128), 2, 256)])
def test_topologies_make_their_resolution(widths, stride, size):
    from glyph.plugins.dcgan.model import Discriminator, Generator

    g, d = Generator(100, widths, 3, stride), Discriminator(widths, 3, stride)
    with torch.no_grad():
        x = g(torch.randn(2, 100))
        assert x.shape == (2, 3, size, size) and d(x).shape == (2,)


def test_published_96px_generator_size():
    from glyph.plugins.dcgan.model import Discriminator, Generator

    g, d = Generator(100, (512, 256, 128, 64), 3, 3), Discriminator((512, 256, 128, 64), 3, 3)
    assert round(sum(p.numel() for p in g.parameters()) / 1e6, 2) == 3.58  # seeds-code-report §4.2
    assert round(sum(p.numel() for p in d.parameters()) / 1e6, 2) == 2.77


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dcgan") / "run"
    r = run_glyph("train", "dcgan", "--data", "embedded", "--preset", "tiny", "--out", str(out),
                  "--set", "train.sample_every=2")
    assert r.code == 0, r.err
    return out


def test_train_resume_and_run(tiny_run, tmp_path):
    r = run_glyph("train", "dcgan", "--out", str(tiny_run), "--resume", "--steps", "6")
    assert r.code == 0, r.err
    r = run_glyph("run", "dcgan", "--weights", str(tiny_run), "--n", "9", "--out", str(tmp_path / "g.png"),
                  "--out-dir", str(tmp_path / "each"), "--filter")
    assert r.code == 0, r.err
    assert len(list((tmp_path / "each").iterdir())) == 9
    grid, kind = read_image(tmp_path / "g.png")
    assert kind == "L" and grid.shape[0] > 16
    r = run_glyph("run", "dcgan", "--weights", str(tiny_run), "--interpolate", "3", "--frames", "4",
                  "--out", str(tmp_path / "walk.gif"))
    assert r.code == 0, r.err
    with Image.open(tmp_path / "walk.gif") as im:
        assert im.n_frames == 12
    r = run_glyph("run", "dcgan", "--weights", str(tiny_run), "--interpolate", "3", "--out", str(tmp_path / "w.png"))
    assert r.code == 1 and ".gif" in r.err
    r = run_glyph("run", "dcgan", "--weights", str(tiny_run))
    assert r.code == 1 and "--out" in r.err


def test_colour_paintings_train(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(24):
        img = np.zeros((40, 40, 3), np.float32)
        img[..., 0] = np.linspace(0, 1, 40)[None, :] * rng.random()
        img[..., 1] = np.linspace(0, 1, 40)[:, None] * rng.random()
        img[..., 2] = rng.random()
        write_image(tmp_path / "paint" / f"{i}.png", img)
    out = tmp_path / "run"
    r = run_glyph("train", "dcgan", "--data", str(tmp_path / "paint"), "--preset", "painting96", "--steps", "2",
                  "--batch", "4", "--set", "g_widths=16,8", "--out", str(out))
    assert r.code == 0, r.err
    r = run_glyph("run", "dcgan", "--weights", str(out), "--n", "4", "--out", str(tmp_path / "p.png"))
    assert r.code == 0, r.err
    assert read_image(tmp_path / "p.png")[1] == "RGB"
    r = run_glyph("train", "dcgan", "--data", str(tmp_path / "paint"), "--preset", "tiny", "--out",
                  str(tmp_path / "bad"))
    assert r.code == 1 and "3" in r.err and "channels" in r.err


def test_generator_only_weights_are_enough_to_sample(tiny_run, tmp_path):
    import shutil

    gen_only = tmp_path / "gen-only"
    shutil.copytree(tiny_run, gen_only, ignore=shutil.ignore_patterns("checkpoints", "samples", "D.*"))
    r = run_glyph("run", "dcgan", "--weights", str(gen_only), "--n", "4", "--out", str(tmp_path / "g.png"))
    assert r.code == 0, r.err
    (gen_only / "weights" / "G.ema.safetensors").unlink()
    (gen_only / "weights" / "G.safetensors").unlink()
    r = run_glyph("run", "dcgan", "--weights", str(gen_only), "--n", "4", "--out", str(tmp_path / "h.png"))
    assert r.code == 1 and "G.safetensors is missing" in r.err


def test_export_writes_a_slim_half_precision_run_that_samples_alike(tiny_run, tmp_path):
    from glyph.checkpoint import load_weights
    from glyph.imageio import read_image

    slim = tmp_path / "slim"
    r = run_glyph("export", str(tiny_run), "--out", str(slim))
    assert r.code == 0, r.err
    assert sorted(p.name for p in (slim / "weights").iterdir()) == ["G.ema.safetensors"]
    w = load_weights(slim / "weights" / "G.ema.safetensors")
    assert all(v.dtype == torch.float16 for v in w.values() if v.is_floating_point())
    for folder, name in ((tiny_run, "full.png"), (slim, "slim.png")):
        r = run_glyph("run", "dcgan", "--weights", str(folder), "--n", "4", "--out", str(tmp_path / name))
        assert r.code == 0, r.err
    a, b = read_image(tmp_path / "full.png")[0], read_image(tmp_path / "slim.png")[0]
    assert abs(a - b).max() < 0.02  # fp16 weights draw the same samples
    r = run_glyph("export", str(tiny_run), "--out", str(slim))
    assert r.code == 1 and "not an empty folder" in r.err


def test_shipped_weights_sample_without_any_flag(tmp_path):
    import json

    from glyph.imageio import read_image

    r = run_glyph("run", "dcgan", "--n", "4", "--out", str(tmp_path / "g.png"))
    assert r.code == 0, r.err
    grid = read_image(tmp_path / "g.png")[0]
    assert grid.shape[0] >= 64 and 0.02 < float((grid < 0.5).mean()) < 0.5  # ink on paper, not blank or black
    listed = {m["name"]: m for m in json.loads(run_glyph("list", "--json").out)}
    assert listed["dcgan"]["weights"] == listed["vae"]["weights"] == "yes"
