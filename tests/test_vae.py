"""vae: conformance, the published sizes, training, sampling, reconstruction, interpolation, errors."""

from __future__ import annotations

import pytest
import torch

from glyph.imageio import read_image
from glyph.testing import check_method

from .conftest import run_glyph


def test_vae_conforms():
    assert {"build", "train"} <= set(check_method("vae"))


def test_ganji_resnet_vae_size():
    from glyph.plugins.vae.method import VAE, Config

    nets = VAE(Config(latent=128)).build()
    n = sum(p.numel() for net in nets.values() for p in net.parameters())
    assert round(n / 1e6, 1) == 23.8  # seeds-code-report §2.2: 23.8 M at latent 128
    blocks = [m for m in nets["encoder"].blocks]
    assert len(blocks) == 7 and len(list(nets["decoder"].blocks)) == 7


def test_mlp_vae_matches_the_notebook():
    from glyph.plugins.vae.method import VAE, Config

    nets = VAE(Config(arch="mlp", resolution=28, hidden=400, latent=20)).build()
    mu, _ = nets["encoder"](torch.rand(3, 1, 28, 28))
    assert mu.shape == (3, 20) and nets["decoder"](mu).shape == (3, 1, 28, 28)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "run"
    r = run_glyph("train", "vae", "--data", "embedded", "--preset", "tiny", "--out", str(out))
    assert r.code == 0, r.err
    return out


def test_sample_reconstruct_and_walk(run_dir, tmp_path):
    r = run_glyph("run", "vae", "--weights", str(run_dir), "--n", "8", "--out", str(tmp_path / "s.png"))
    assert r.code == 0, r.err
    r = run_glyph("run", "vae", "--weights", str(run_dir), "--reconstruct", "embedded", "--n", "6",
                  "--out", str(tmp_path / "pairs.png"), "--out-dir", str(tmp_path / "rec"))
    assert r.code == 0, r.err
    assert "mean absolute error" in r.err and len(list((tmp_path / "rec").iterdir())) == 6
    assert read_image(tmp_path / "pairs.png")[0].shape[0] > 16
    r = run_glyph("run", "vae", "--weights", str(run_dir), "--interpolate", "2", "--frames", "3",
                  "--out", str(tmp_path / "w.gif"))
    assert r.code == 0, r.err
    r = run_glyph("run", "vae", "--weights", str(run_dir), "--reconstruct", str(tmp_path / "nothing"),
                  "--out", str(tmp_path / "x.png"))
    assert r.code == 1 and "no such file" in r.err


def test_another_methods_run_folder_is_refused(run_dir):
    r = run_glyph("run", "dcgan", "--weights", str(run_dir), "--out", "x.png")
    assert r.code == 1 and "is a run of method 'vae'" in r.err


def test_shipped_decoder_samples_and_explains_reconstruction(tmp_path):
    r = run_glyph("run", "vae", "--n", "4", "--out", str(tmp_path / "g.png"))
    assert r.code == 0, r.err
    r = run_glyph("run", "vae", "--reconstruct", "embedded", "--out", str(tmp_path / "p.png"))
    assert r.code == 1 and "decoder only" in r.err and "Traceback" not in r.err
