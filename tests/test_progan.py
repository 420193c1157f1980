"""progan: the schedule and fade-in arithmetic, equalized LR, minibatch std, R1, training and exact resume."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from glyph.testing import check_method

from .conftest import run_glyph


def test_progan_conforms():
    assert {"build", "train"} <= set(check_method("progan"))


def test_published_sizes_and_schedule():
    from glyph.plugins.progan.method import ProGAN
    from glyph.plugins.progan.model import Discriminator, Generator

    widths = (512, 512, 512, 512, 256)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert round(count(Generator(512, widths, 3)) / 1e6, 1) == 22.5  # seeds-code-report §1.2 (RGB)
    assert round(count(Discriminator(widths, 3)) / 1e6, 1) == 24.3
    m = ProGAN()
    assert m.schedule.stage_steps == [25362, 50723, 50723, 76084, 101445]  # ceil(epochs * 6763 / 16)
    assert m.config.steps == m.schedule.total == 304337  # "about 304.6k" in the report, which rounds per epoch


def test_fade_in_arithmetic():
    from glyph.plugins.progan.method import Schedule

    s = Schedule((100, 200, 200), (10, 20, 20), 0.5)
    assert s.stage_steps == [10, 10, 10] and s.total == 30
    assert s.at(0) == (0, 1.0) and s.at(9) == (0, 1.0)
    assert s.at(10) == (1, pytest.approx(0.2))  # 20 images of the 100 the fade lasts
    assert s.at(13) == (1, pytest.approx(0.8)) and s.at(14) == (1, 1.0) and s.at(19) == (1, 1.0)
    assert s.at(20) == (2, pytest.approx(0.2)) and s.at(10_000) == (2, 1.0)


def test_faded_out_layers_leave_the_previous_stage():
    from glyph.plugins.progan.model import Discriminator, Generator

    torch.manual_seed(0)
    g, d = Generator(8, (16, 8, 8)), Discriminator((16, 8, 8))
    z = torch.randn(4, 8)
    for k in (1, 2):
        assert torch.allclose(g(z, k, 0.0), F.interpolate(g(z, k - 1, 1.0), scale_factor=2, mode="nearest"))
        x = torch.randn(4, 1, 4 * 2**k, 4 * 2**k)
        assert torch.allclose(d(x, k, 0.0), d(F.avg_pool2d(x, 2), k - 1, 1.0), atol=1e-6)
    half = g(z, 2, 0.5)
    mix = 0.5 * g(z, 2, 1.0) + 0.5 * F.interpolate(g(z, 1, 1.0), scale_factor=2, mode="nearest")
    assert torch.allclose(half, mix, atol=1e-6)


def test_equalized_learning_rate():
    from glyph.plugins.progan.model import EqConv2d, EqLinear

    torch.manual_seed(0)
    conv, lin = EqConv2d(64, 32, 3, 1), EqLinear(512, 256)
    assert conv.scale == pytest.approx(math.sqrt(2 / (64 * 9))) and lin.scale == pytest.approx(math.sqrt(2 / 512))
    assert 0.95 < float(lin.weight.detach().std()) < 1.05  # N(0, 1), not the published all-zero linear layers
    x = torch.randn(2, 64, 8, 8)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1))
    # He scaling keeps unit-variance inputs at variance ~2 before the leaky ReLU halves it
    y = EqConv2d(256, 256, 3, 1)(torch.randn(8, 256, 16, 16))
    assert 1.7 < float(y.detach().var()) < 2.3


def test_minibatch_std():
    from glyph.plugins.progan.model import minibatch_std

    a = torch.arange(1.0, 9.0).view(1, 2, 2, 2)
    x = torch.cat([a, -a])  # per-feature biased std = |a|
    out = minibatch_std(x)
    assert out.shape == (2, 3, 2, 2)
    assert torch.allclose(out[:, 2], torch.full((2, 2, 2), 4.5), atol=1e-4)  # mean of 1..8


def test_r1_on_a_known_function():
    from glyph.plugins.progan.model import r1_penalty

    w = torch.randn(1, 1, 4, 4)

    class Linear(torch.nn.Module):
        def forward(self, x, stage, alpha):
            return (x * w).flatten(1).sum(1)

    real = torch.randn(5, 1, 4, 4)
    logits, r1 = r1_penalty(Linear(), real, lambda x: x, 0, 1.0)
    assert torch.allclose(logits, (real * w).flatten(1).sum(1))
    assert float(r1) == pytest.approx(float(w.pow(2).sum()), rel=1e-5)
    _, r1_through = r1_penalty(Linear(), real, lambda x: 2 * x, 0, 1.0)  # w.r.t. the un-augmented reals
    assert float(r1_through) == pytest.approx(4 * float(w.pow(2).sum()), rel=1e-5)


def _weights(run):
    from glyph.checkpoint import load_weights

    return load_weights(run / "weights" / "G.safetensors")


@pytest.mark.slow  # 17 s on a 2-core CPU: run by CI's slow stage, keeping the suite under 15 minutes
def test_tiny_trains_resumes_mid_fade_exactly_and_samples(tmp_path):
    straight, split = tmp_path / "a", tmp_path / "b"
    common = ["--data", "embedded", "--preset", "tiny", "--set", "train.deterministic=true"]
    assert run_glyph("train", "progan", *common, "--out", str(straight)).code == 0
    r = run_glyph("train", "progan", *common, "--steps", "5", "--out", str(split))  # stops mid-fade of stage 1
    assert r.code == 0, r.err
    r = run_glyph("train", "progan", "--out", str(split), "--resume", "--steps", "12")
    assert r.code == 0, r.err
    a, b = _weights(straight), _weights(split)
    assert all(torch.equal(a[k], b[k]) for k in a)
    r = run_glyph("run", "progan", "--weights", str(straight), "--n", "4", "--out", str(tmp_path / "g.png"))
    assert r.code == 0, r.err
    from glyph.imageio import read_image

    assert read_image(tmp_path / "g.png")[0].shape[0] >= 16  # 16 px tiles: the run ended at stage 2
    r = run_glyph("run", "progan", "--weights", str(straight), "--interpolate", "2", "--frames", "2",
                  "--out", str(tmp_path / "w.gif"))
    assert r.code == 0, r.err


def test_shipped_weights_sample_a_64px_grid(tmp_path):
    from glyph.imageio import read_image

    r = run_glyph("run", "progan", "--n", "4", "--out", str(tmp_path / "g.png"))
    assert r.code == 0, r.err
    grid = read_image(tmp_path / "g.png")[0]
    assert grid.shape[0] >= 64 and 0.02 < float((grid < 0.5).mean()) < 0.5  # the last stage: ink on paper
