"""Inscription-wear damage (glyph.data.damage): determinism, ranges, what each op does to a glyph, the k-op plan,
sizes, and the uint8 dataset helper."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from glyph.data import damage
from glyph.data.damage import OPS, Damage, block_generator, damage_images
from glyph.errors import GlyphError


def _segment(h: int, w: int, p: tuple[float, float], q: tuple[float, float], width: float) -> torch.Tensor:
    """Anti-aliased coverage of a stroke from ``p`` to ``q`` (fractions of the image, (x, y)) of ``width`` px."""
    ys = (torch.arange(h, dtype=torch.float64) + 0.5).view(h, 1)
    xs = (torch.arange(w, dtype=torch.float64) + 0.5).view(1, w)
    px, py, qx, qy = p[0] * w, p[1] * h, q[0] * w, q[1] * h
    dx, dy = qx - px, qy - py
    t = (((xs - px) * dx + (ys - py) * dy) / (dx * dx + dy * dy)).clamp(0, 1)
    dist = torch.hypot(xs - (px + t * dx), ys - (py + t * dy))
    return (width / 2 + 0.5 - dist).clamp(0, 1)


def make_glyph(h: int = 64, w: int = 64) -> torch.Tensor:
    """A CJK-like test glyph ``[1, 1, h, w]`` (1 = ink): bars, a hook, two sweeps and a box, strokes ~6 px at 64 px."""
    width = 0.09 * min(h, w)
    strokes = [
        ((0.15, 0.2), (0.85, 0.2)),  # top bar
        ((0.5, 0.08), (0.5, 0.62)),  # vertical
        ((0.5, 0.62), (0.4, 0.56)),  # hook
        ((0.45, 0.32), (0.15, 0.58)),  # left sweep
        ((0.55, 0.32), (0.88, 0.58)),  # right sweep
        ((0.25, 0.68), (0.75, 0.68)),  # box
        ((0.25, 0.92), (0.75, 0.92)),
        ((0.25, 0.68), (0.25, 0.92)),
        ((0.75, 0.68), (0.75, 0.92)),
    ]
    ink = torch.zeros(h, w, dtype=torch.float64)
    for p, q in strokes:
        ink = torch.maximum(ink, _segment(h, w, p, q, width))
    return ink.float().view(1, 1, h, w)


def glyphs(n: int = 8, h: int = 64, w: int = 64) -> torch.Tensor:
    return make_glyph(h, w).repeat(n, 1, 1, 1)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def ink_paper_gap(y: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per sample: mean value on the clean glyph's ink minus mean value on its paper."""
    ink, paper = (clean > 0.5).to(y.dtype), (clean < 0.5).to(y.dtype)
    return (y * ink).sum((1, 2, 3)) / ink.sum((1, 2, 3)) - (y * paper).sum((1, 2, 3)) / paper.sum((1, 2, 3))


# -- determinism and contracts of every op ----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OPS))
def test_op_is_seeded_and_per_sample(name: str) -> None:
    x = glyphs()
    a, b, c = OPS[name](x, gen(1)), OPS[name](x, gen(1)), OPS[name](x, gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a[0], a[1]), "samples of one batch should get their own parameters"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(OPS))
def test_op_keeps_shape_dtype_device_range_and_input(name: str, dtype: torch.dtype) -> None:
    x = glyphs(4).to(dtype)
    before = x.clone()
    y = OPS[name](x, gen(), 2.0)
    assert y.shape == x.shape and y.dtype == dtype and y.device == x.device
    assert y.data_ptr() != x.data_ptr()
    assert torch.equal(x, before), "ops must not modify their input"
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


# ops that place damage at random may miss the strokes of a sample now and then (a stain on blank paper)
LOCAL_OPS = {"blotches", "missing_chunks"}


@pytest.mark.parametrize("name", list(OPS))
def test_op_changes_a_real_glyph(name: str) -> None:
    x = glyphs(8)
    y = OPS[name](x, gen(3))
    changed = (y - x).abs().flatten(1).amax(1) > 0.1
    needed = 6 if name in LOCAL_OPS else 8
    assert changed.sum() >= needed, f"{name} left glyphs untouched: changed per sample {changed.tolist()}"
    assert (y - x).abs().mean() > 0.002


@pytest.mark.parametrize("name", list(OPS))
def test_strength_zero_is_identity_and_small_strength_is_mild(name: str) -> None:
    x = glyphs(8)
    assert torch.equal(OPS[name](x, gen(), 0.0), x)
    mild = (OPS[name](x, gen(), 0.05) - x).abs().mean()
    full = (OPS[name](x, gen(), 1.0) - x).abs().mean()
    assert mild < 0.02 and mild < 0.5 * full, (mild, full)


def test_ops_reject_bad_inputs() -> None:
    x = glyphs(2)
    with pytest.raises(GlyphError, match="float tensor"):
        damage.blur((x * 255).to(torch.uint8), gen())
    with pytest.raises(GlyphError, match="float tensor"):
        damage.blur(x[0], gen())
    with pytest.raises(GlyphError, match="Generator"):
        damage.blur(x, None)  # type: ignore[arg-type]
    with pytest.raises(GlyphError, match="strength"):
        damage.blur(x, gen(), -1.0)
    with pytest.raises(GlyphError, match="padding"):
        damage.blur(x, gen(), padding="edge")


def test_empty_batch() -> None:
    x = torch.zeros(0, 1, 64, 64)
    for op in OPS.values():
        assert op(x, gen()).shape == x.shape
    assert Damage()(x, gen()).shape == x.shape


# -- what each op does --------------------------------------------------------------------------------------------


def test_erosion_removes_ink_and_dilation_adds_it() -> None:
    x = glyphs(8)
    eroded = damage.erode_dilate(x, gen(), p_erode=1.0)
    dilated = damage.erode_dilate(x, gen(), p_erode=0.0)
    assert (eroded <= x + 1e-6).all() and (dilated >= x - 1e-6).all()
    ink = x.sum((1, 2, 3))
    assert (eroded.sum((1, 2, 3)) < 0.9 * ink).all()
    assert (dilated.sum((1, 2, 3)) > 1.1 * ink).all()


def test_erosion_scales_with_image_size() -> None:
    # the same relative wear at 32 and 128 px: a fixed 3x3 kernel would erase the 32 px glyph's thin strokes
    small, large = glyphs(8, 32, 32), glyphs(8, 128, 128)
    lost_small = 1 - damage.erode_dilate(small, gen(), p_erode=1.0).sum() / small.sum()
    lost_large = 1 - damage.erode_dilate(large, gen(), p_erode=1.0).sum() / large.sum()
    assert 0.1 < lost_small < 0.8 and 0.1 < lost_large < 0.8


@pytest.mark.parametrize("op", [damage.missing_chunks, lambda x, g: damage.cracks(x, g, p_ink=0.0)])
def test_chunks_and_cracks_only_remove_ink(op: Callable[[torch.Tensor, torch.Generator], torch.Tensor]) -> None:
    x = glyphs(16)
    y = op(x, gen(5))
    assert (y <= x + 1e-6).all()
    lost = x.sum((1, 2, 3)) - y.sum((1, 2, 3))
    assert lost.sum() > 0.02 * x.sum()
    assert (lost > 0).float().mean() >= 0.75, "most samples should lose some ink"


def test_ink_cracks_add_ink() -> None:
    x = torch.zeros(8, 1, 64, 64)
    y = damage.cracks(x, gen(), p_ink=1.0)
    assert (y.flatten(1).amax(1) > 0.5).all()
    # thin lines: a few percent of the image at most
    assert ((y > 0.5).float().mean((1, 2, 3)) < 0.1).all()


def test_blotches_add_or_remove_ink_without_wraparound() -> None:
    x = glyphs(16)
    added = damage.blotches(x, gen(), p_add=1.0)
    removed = damage.blotches(x, gen(), p_add=0.0)
    assert (added >= x - 1e-6).all() and (added > x + 0.1).any()
    assert (removed <= x + 1e-6).all() and (removed < x - 0.1).any()
    # RestoreCAE-Zi's uint8 rectangles turned removed ink bright; here paper stays paper
    paper = x == 0
    assert removed[paper].max() == 0


def test_low_contrast_narrows_the_ink_paper_gap() -> None:
    x = glyphs(16)
    y = damage.low_contrast(x, gen())
    gap_before, gap_after = ink_paper_gap(x, x), ink_paper_gap(y, x)
    assert (gap_after < gap_before - 0.2).all()
    assert (gap_after > 0.1).all(), "the glyph must stay readable"


def test_blur_softens_edges_and_keeps_ink_mass() -> None:
    x = glyphs(8)
    for padding in ("zeros", "reflect"):
        y = damage.blur(x, gen(), padding=padding)
        assert ((y > 0.05) & (y < 0.95)).sum() > ((x > 0.05) & (x < 0.95)).sum()
        # a normalised kernel keeps the ink, but for what blurs over the border
        torch.testing.assert_close(y.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=1e-2, atol=0)


def test_texture_and_speckle_touch_paper_and_ink() -> None:
    x = glyphs(8)
    for op in (damage.stone_texture, damage.speckle):
        y = op(x, gen())
        assert (y[x == 0] > 0).any() and (y[x == 1] < 1).any()


# -- the pipeline ---------------------------------------------------------------------------------------------------


def test_damage_is_seeded() -> None:
    x = glyphs(16)
    d = Damage()
    assert torch.equal(d(x, gen(7)), d(x, gen(7)))
    assert not torch.equal(d(x, gen(7)), d(x, gen(8)))


def test_damage_config_defaults_and_errors() -> None:
    d = Damage()
    assert d.ops == tuple(OPS) and d.k == 3 and d.strength == 1.0
    assert Damage(ops=["blur", "cracks"], k=1).ops == ("blur", "cracks")
    with pytest.raises(GlyphError, match="did you mean 'cracks'"):
        Damage(ops=("blur", "crack"))
    with pytest.raises(GlyphError, match="distinct"):
        Damage(ops=("blur", "blur"), k=1)
    with pytest.raises(GlyphError, match="k must be"):
        Damage(ops=("blur", "cracks"), k=3)
    with pytest.raises(GlyphError, match="strength"):
        Damage(strength=-0.5)


def test_plan_draws_k_distinct_ops_uniformly_in_random_order() -> None:
    d = Damage()
    plan = d.plan(4000, gen())
    assert plan.shape == (4000, 3) and plan.dtype == torch.long
    assert all(len(set(row)) == 3 for row in plan.tolist())
    expected = 4000 / len(OPS)  # per op and position
    for step in range(3):
        counts = torch.bincount(plan[:, step], minlength=len(OPS)).float()
        assert (counts - expected).abs().max() < 5 * math.sqrt(expected)


def test_damage_applies_each_samples_ops_in_its_planned_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # Spies write the op's number as the next decimal digit, so each pixel ends up spelling the op sequence.
    calls: list[str] = []

    def spy(index: int, name: str) -> Callable[..., torch.Tensor]:
        def op(x: torch.Tensor, generator: torch.Generator, strength: float) -> torch.Tensor:
            assert isinstance(generator, torch.Generator) and strength == 1.0
            calls.append(name)
            return x * 10 + (index + 1)
        return op

    for i, name in enumerate(OPS):
        monkeypatch.setitem(OPS, name, spy(i, name))
    d = Damage()
    x = torch.zeros(64, 1, 8, 8, dtype=torch.float64)
    plan = d.plan(64, gen(11))
    y = d.apply(x, plan, gen(11))
    expected = (plan[:, 0] + 1) * 100 + (plan[:, 1] + 1) * 10 + (plan[:, 2] + 1)
    assert torch.equal(y[:, 0, 0, 0].long(), expected)
    assert (y == y[:, :, :1, :1]).all()
    assert len(calls) <= 3 * len(OPS), "one call per op and step, not one per sample"
    # calling the object draws the same plan from the same seed first
    assert torch.equal(d(x, gen(11)), y)


def test_damage_with_k_one_applies_exactly_one_op(monkeypatch: pytest.MonkeyPatch) -> None:
    def count(x: torch.Tensor, generator: torch.Generator, strength: float) -> torch.Tensor:
        return x + 1

    for name in OPS:
        monkeypatch.setitem(OPS, name, count)
    seen = Damage(k=1)(torch.zeros(32, 1, 4, 4), gen())
    assert (seen == 1).all()


@pytest.mark.parametrize(("h", "w"), [(32, 32), (64, 64), (128, 128), (48, 64)])
def test_damage_works_at_any_size(h: int, w: int) -> None:
    x = glyphs(6, h, w)
    y = Damage(strength=1.5)(x, gen())
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert ((y - x).abs().flatten(1).amax(1) > 0.2).all()
    for op in OPS.values():  # every op on its own, non-square included
        assert op(x[:2], gen()).shape == x[:2].shape


def test_damage_strength_zero_is_identity() -> None:
    x = glyphs(8)
    assert torch.equal(Damage(strength=0.0)(x, gen()), x)


# -- whole datasets -------------------------------------------------------------------------------------------------


def test_damage_images_uint8_round_trip() -> None:
    images = (glyphs(10) * 255).round().to(torch.uint8)
    out = damage_images(images, seed=3)
    assert out.dtype == torch.uint8 and out.shape == images.shape and out.device == images.device
    assert not torch.equal(out, images)
    assert torch.equal(damage_images(images, 3), out)
    assert not torch.equal(damage_images(images, 4), out)
    assert torch.equal(damage_images(images, 3, Damage(strength=0.0)), images)


def test_damage_images_blocks_match_single_calls() -> None:
    images = (glyphs(10) * 255).round().to(torch.uint8)
    config = Damage(k=2)
    whole = damage_images(images, 5, config, block_size=10)
    one = Damage(k=2)(images.float() / 255, block_generator(5, 0))
    assert torch.equal(whole, (one * 255).round().to(torch.uint8))
    # blocked: a prefix ending on a block boundary is damaged exactly as within the whole dataset
    blocked = damage_images(images, 5, config, block_size=4)
    assert torch.equal(damage_images(images[:8], 5, config, block_size=4), blocked[:8])
    assert torch.equal(damage_images(images[:4], 5, config, block_size=4), blocked[:4])
    # and each block draws its own damage: identical images in different blocks come out differently
    assert not torch.equal(blocked[:2], blocked[4:6])
    # the default block size holds this small dataset in one block
    assert torch.equal(damage_images(images, 5, config), whole)


def test_damage_images_rejects_floats() -> None:
    with pytest.raises(GlyphError, match="uint8"):
        damage_images(glyphs(2), 0)
    with pytest.raises(GlyphError, match="block_size"):
        damage_images(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), 0, block_size=0)
