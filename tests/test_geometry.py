"""glyph.geometry: a writer's slant, aspect, rotation, scale, position and smooth warp applied to glyph images."""

from __future__ import annotations

import pytest
import torch

from glyph.geometry import Geometry, random_geometries, warp


def _bar() -> torch.Tensor:
    img = torch.zeros(1, 1, 64, 64)
    img[0, 0, 8:56, 31:33] = 1  # a vertical stroke
    return img


def _centre_x(img: torch.Tensor, row: int) -> float:
    line = img[0, 0, row]
    return float((line * torch.arange(64)).sum() / line.sum())


def test_identity_leaves_images_as_they_are():
    img = torch.rand(3, 1, 64, 64)
    assert torch.allclose(warp(img, Geometry.identity(3)), img, atol=1e-5)
    u8 = (img * 255).to(torch.uint8)
    assert torch.equal(warp(u8, Geometry.identity(3)), u8)


def test_slant_leans_vertical_strokes_to_the_right():
    g = Geometry.identity(1)
    g.slant = torch.tensor([15.0])
    out = warp(_bar(), g)
    lean = _centre_x(out, 12) - _centre_x(out, 52)  # top minus bottom, 40 rows apart
    assert lean == pytest.approx(40 * torch.tan(torch.deg2rad(torch.tensor(15.0))).item(), abs=1.0)
    g.slant = torch.tensor([-15.0])
    assert _centre_x(warp(_bar(), g), 12) < _centre_x(warp(_bar(), g), 52)


def test_aspect_widens_and_keeps_the_area():
    img = torch.zeros(1, 1, 64, 64)
    img[0, 0, 22:42, 22:42] = 1  # a 20 x 20 square
    g = Geometry.identity(1)
    g.aspect = torch.tensor([1.44])
    out = warp(img, g)
    cols = (out[0, 0].amax(0) > 0.5).sum().item()
    rows = (out[0, 0].amax(1) > 0.5).sum().item()
    assert cols == pytest.approx(24, abs=1) and rows == pytest.approx(17, abs=1)
    assert out.sum().item() == pytest.approx(img.sum().item(), rel=0.03)


def test_rotation_scale_and_shift():
    g = Geometry.identity(1)
    g.rotation = torch.tensor([90.0])
    out = warp(_bar(), g)  # the vertical bar lies down
    assert (out[0, 0, 31:33].sum() > out[0, 0, :, 31:33].sum() * 0.9)
    g = Geometry.identity(1)
    g.shift_x = torch.tensor([0.25])  # an eighth of the box: 8 px to the right
    assert _centre_x(warp(_bar(), g), 32) == pytest.approx(_centre_x(_bar(), 32) + 8, abs=0.5)
    g = Geometry.identity(1)
    g.scale = torch.tensor([0.5])
    assert (warp(_bar(), g)[0, 0, :, 31:33].amax(1) > 0.5).sum() == pytest.approx(24, abs=1)


def test_paper_stays_paper_in_the_networks_range():
    img = _bar() * 2 - 1  # [-1, 1], ink = +1
    g = Geometry.identity(1)
    g.scale, g.shift_x = torch.tensor([0.7]), torch.tensor([0.5])
    out = warp(img, g)
    assert out.min() >= -1.0001 and out[0, 0, :, :10].max() == pytest.approx(-1.0)


def test_random_geometries_stay_in_their_ranges_and_follow_the_seed():
    a = random_geometries(500, torch.Generator().manual_seed(3))
    b = random_geometries(500, torch.Generator().manual_seed(3))
    assert torch.equal(a.slant, b.slant) and torch.equal(a.flow, b.flow)
    assert a.slant.abs().max() <= 15 and a.rotation.abs().max() <= 5
    assert 0.8 <= a.aspect.min() and a.aspect.max() <= 1.25 and 0.85 <= a.scale.min() and a.scale.max() <= 1.05
    assert a.flow.shape == (500, 2, 3, 3) and a.flow.abs().max() <= 0.05
    weak = random_geometries(500, torch.Generator().manual_seed(3), strength=0.0)
    assert torch.allclose(warp(_bar().repeat(500, 1, 1, 1), weak), _bar().repeat(500, 1, 1, 1), atol=1e-4)


def test_a_writers_geometry_repeats_over_its_glyphs():
    g = random_geometries(2, torch.Generator().manual_seed(0))
    r = g.repeat_interleave(3)
    assert len(r) == 6 and torch.equal(r.slant[:3], g.slant[:1].repeat(3)) and r.flow.shape[0] == 6
    with pytest.raises(ValueError, match="2 geometries for 6 images"):
        warp(torch.zeros(6, 1, 64, 64), g)


def test_measure_finds_a_slant_and_aspect_given_to_a_face():
    """A face given a known habit: the fit's change against the face as it is recovers the slant within 2 degrees
    and the aspect within 5 %."""
    from glyph.data.sources import open_dataset
    from glyph.geometry import measure

    d = open_dataset("embedded")
    names, w, ch = d.classes["writer"], d.labels["writer"], d.labels["char"]
    tmpl, face = names.index("noto-sans-sc-regular"), names.index("noto-serif-sc-regular")
    common = sorted(set(ch[w == face].tolist()) & set(ch[w == tmpl].tolist()))[:6]
    t = torch.stack([d.images[int(torch.nonzero((w == tmpl) & (ch == c))[0])] for c in common])
    s = torch.stack([d.images[int(torch.nonzero((w == face) & (ch == c))[0])] for c in common])
    base = measure(t, s)
    assert base.residual < base.residual_identity and base.samples == 6
    g = Geometry.identity(6)
    g.slant, g.aspect = torch.full((6,), -9.0), torch.full((6,), 1.15)
    fit = measure(t, warp(s, g, paper=0.0))
    assert abs((fit.slant - base.slant) - (-9.0)) <= 2.0
    assert abs(fit.aspect / base.aspect / 1.15 - 1) <= 0.05
    assert set(fit.as_dict()) >= {"slant", "aspect", "rotation", "scale", "shift_x", "shift_y", "residual"}
    with pytest.raises(ValueError, match="one template per sample"):
        measure(t[:2], s[:3])
