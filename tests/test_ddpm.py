"""ddpm: the forward process, targets, samplers (DDIM determinism, an oracle recovers its image), the UNet, CLI."""

from __future__ import annotations

import pytest
import torch

from glyph.testing import check_method

from .conftest import run_glyph


def test_ddpm_conforms():
    assert {"build", "train"} <= set(check_method("ddpm"))


def test_ganji_unet_size():
    from glyph.plugins.ddpm.model import UNet

    assert round(sum(p.numel() for p in UNet().parameters()) / 1e6, 1) == 23.8  # GANji's log, no attention
    out = UNet(widths=(8, 8, 8, 8), bottleneck=8, attention=(16,), resolution=32)(torch.randn(2, 1, 32, 32),
                                                                                   torch.tensor([0, 5]))
    assert out.shape == (2, 1, 32, 32)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_forward_process_statistics(kind):
    from glyph.plugins.ddpm.diffusion import NoiseSchedule

    s = NoiseSchedule(kind, 1000)
    assert float(s.alphas_cumprod[0]) > 0.99 and float(s.alphas_cumprod[-1]) < 1e-3  # clean at 0, noise at T
    assert bool((s.alphas_cumprod[1:] < s.alphas_cumprod[:-1]).all())
    torch.manual_seed(0)
    x0 = torch.full((20000, 1, 2, 2), 0.7)
    for step in (10, 500, 900):
        t = torch.full((len(x0),), step)
        xt = s.q_sample(x0, t, torch.randn_like(x0))
        ab = float(s.alphas_cumprod[step])
        assert float(xt.mean()) == pytest.approx(0.7 * ab**0.5, abs=0.01)
        assert float(xt.var()) == pytest.approx(1 - ab, abs=0.01 + 0.02 * (1 - ab))


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_targets_invert(prediction):
    from glyph.plugins.ddpm.diffusion import NoiseSchedule

    s = NoiseSchedule("cosine", 100, prediction)
    x0, noise = torch.rand(4, 1, 8, 8) * 2 - 1, torch.randn(4, 1, 8, 8)
    t = torch.tensor([0, 10, 50, 99])
    x0_hat, eps_hat = s.split(s.target(x0, t, noise), s.q_sample(x0, t, noise), t)
    assert torch.allclose(x0_hat, x0, atol=2e-3) and torch.allclose(eps_hat, noise, atol=2e-3)  # float32 at ab ~ 0


def _oracle(s, image):
    """The ideal denoiser of a dataset holding one image: its noise prediction is exact."""
    def model(x, t):
        return s.target(image.expand_as(x), t, (x - s._ab(t, x).sqrt() * image) / (1 - s._ab(t, x)).sqrt())
    return model


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_samplers_recover_the_only_image_and_ddim_is_deterministic(prediction):
    from glyph.plugins.ddpm.diffusion import NoiseSchedule, ancestral, ddim, ddim_timesteps

    s = NoiseSchedule("linear", 200, prediction)
    image = torch.rand(1, 1, 8, 8) * 2 - 1
    noise = torch.randn(3, 1, 8, 8)
    model = _oracle(s, image)
    assert torch.allclose(ddim(model, s, noise, 10), image.expand(3, -1, -1, -1), atol=1e-4)
    assert torch.allclose(ancestral(model, s, noise, torch.Generator().manual_seed(1)), image.expand(3, -1, -1, -1),
                          atol=1e-3)
    a = ddim(model, s, noise, 10, 0.0, torch.Generator().manual_seed(1))
    b = ddim(model, s, noise, 10, 0.0, torch.Generator().manual_seed(2))
    assert torch.equal(a, b)  # eta = 0: the generator is never used
    ts = ddim_timesteps(1000, 50)
    assert ts[0] == 999 and ts[-1] == 0 and len(ts) == 50


@pytest.mark.slow  # 30 s on a 2-core CPU: run by CI's slow stage, keeping the suite under 15 minutes
def test_tiny_trains_resumes_and_samples(tmp_path):
    run = tmp_path / "run"
    r = run_glyph("train", "ddpm", "--data", "embedded", "--preset", "tiny", "--out", str(run))
    assert r.code == 0, r.err
    r = run_glyph("train", "ddpm", "--out", str(run), "--resume", "--steps", "6")
    assert r.code == 0, r.err
    for pre, args in (([], ["--steps", "3"]), ([], ["--sampler", "ancestral"]), ([], ["--steps", "2", "--eta", "1"]),
                      (["--precision", "bf16"], ["--steps", "3"])):
        r = run_glyph(*pre, "run", "ddpm", "--weights", str(run), "--n", "4", "--out", str(tmp_path / "g.png"), *args)
        assert r.code == 0, r.err
    r = run_glyph("run", "ddpm", "--weights", str(run), "--interpolate", "2", "--frames", "2", "--steps", "2",
                  "--out", str(tmp_path / "w.gif"))
    assert r.code == 0, r.err
    r = run_glyph("run", "ddpm", "--weights", str(run), "--steps", "50", "--out", str(tmp_path / "x.png"))
    assert r.code == 1 and "between 1 and 20" in r.err
    r = run_glyph("--device", "cpu", "--precision", "fp16", "run", "ddpm", "--weights", str(run),
                  "--out", str(tmp_path / "x.png"))
    assert r.code == 1 and "fp16 needs a CUDA device" in r.err
    r = run_glyph("--precision", "fp8", "run", "ddpm", "--weights", str(run), "--out", str(tmp_path / "x.png"))
    assert r.code == 1 and "use one of auto, fp32, bf16, fp16" in r.err
    from glyph.trainer import load_run

    m = load_run(run)
    noise = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    full, half = m.denoise(noise, "ddim", 5, 0.0), m.denoise(noise, "ddim", 5, 0.0, precision="bf16")
    assert not torch.equal(full, half) and (full - half).abs().mean() < 0.02  # bf16 network, fp32 sampler


def test_shipped_weights_sample_a_64px_grid_with_ddim(tmp_path):
    from glyph.imageio import read_image

    r = run_glyph("run", "ddpm", "--steps", "10", "--n", "4", "--out", str(tmp_path / "g.png"))
    assert r.code == 0, r.err
    grid = read_image(tmp_path / "g.png")[0]
    assert grid.shape[0] >= 64 and 0.02 < float((grid < 0.5).mean()) < 0.5  # ink on paper, not noise or blank
