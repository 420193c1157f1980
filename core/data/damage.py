"""Inscription wear for restoration training: turn clean glyphs into weathered ones, seeded and batched.

A restoration model (``restorecae`` and kin) learns to map a damaged glyph back to the clean one, so it is
only as good as the damage it sees in training. This module imitates what centuries do to a carved
inscription and what a rubbing (拓本) does to its image. Every op takes a float batch ``[N, C, H, W]`` in
glyph's convention (1 = ink, 0 = paper; see :mod:`glyph.data`), a ``torch.Generator`` and a ``strength``
(0 = no change, 1 = the default severity, larger = worse), and returns a new tensor in [0, 1]:

- ``erode_dilate``   strokes worn thinner (erosion) or swollen by ink bleeding into the paper (dilation),
                     with a disc-like structuring element and uneven wear across the glyph;
- ``blotches``       soft ellipses and rectangles that add ink (pits and chips in the stone, which a rubbing
                     shows like strokes) or remove it (stains, filled-in carving);
- ``blur``           Gaussian blur of per-sample width: a soft rubbing, a worn edge, an out-of-focus photo;
- ``speckle``        sparse salt-and-pepper spots, some slightly dilated: pitting of the stone surface and
                     specks of ink or dirt;
- ``cracks``         thin random-walk lines across the glyph that cut through the strokes (a crack in the
                     stone); a few add ink instead (a scratch or a crack filled with dirt);
- ``missing_chunks`` large irregular regions where the ink is gone: parts of the inscription broken off or
                     weathered away;
- ``stone_texture``  low-frequency mottling (uneven inking, stains) and high-frequency grain of the stone;
- ``low_contrast``   ink and paper pulled towards each other, paper lifted: a faded or grey rubbing.

:class:`Damage` follows RestoreCAE-Zi's ``PaintingTransform`` (Shawn-SFYu/RestoreAE-Zi): each sample gets
``k`` *distinct* ops drawn uniformly without replacement and applied in a random order. Its pool was
erosion/dilation, rectangles, blur and blotch noise on uint8 images, where negative rectangle intensities
wrapped around to bright values; here everything is float, blended and clipped, so nothing wraps, and the
pool adds the wear an inscription actually shows (cracks, lost chunks, stone texture, fading).

Randomness comes only from the generator passed in: the same input, seed and device give bit-identical
output. Parameters are drawn per sample and the work is vectorised over the batch; sizes (kernels, blobs,
crack widths) are set relative to a 64 px image and scale with ``min(H, W)``, so any size works.
:func:`damage_images` damages a whole uint8 dataset block by block with bounded memory.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import GlyphError, did_you_mean

__all__ = [
    "OPS",
    "Damage",
    "DamagedSet",
    "block_generator",
    "blotches",
    "blur",
    "cracks",
    "damage_images",
    "erode_dilate",
    "low_contrast",
    "missing_chunks",
    "speckle",
    "stone_texture",
    "write_damage_pairs",
]

_OFF = -1.0e4  # score of "no blob here": far below any edge ramp, and finite so max/where stay NaN-free


# ---------------------------------------------------------------------------------------------------------------
# helpers: random draws, sizes, morphology, noise


def _start(x: Tensor, generator: torch.Generator, strength: float) -> bool:
    """Validate the inputs of an op; return True when it has nothing to do (empty batch or strength 0)."""
    if not isinstance(x, Tensor) or x.dim() != 4 or not x.is_floating_point():
        got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise GlyphError(f"damage ops take a float tensor [N, C, H, W] in [0, 1] (got {got}); convert uint8 "
                         "images with x.float() / 255 or use damage_images")
    if not isinstance(generator, torch.Generator):
        raise GlyphError(f"damage ops draw only from a torch.Generator (got {type(generator).__name__}); "
                         "pass e.g. torch.Generator().manual_seed(0)")
    if not math.isfinite(strength) or strength < 0:
        raise GlyphError(f"damage strength must be a finite number >= 0 (got {strength})")
    return strength == 0 or x.shape[0] == 0


def _rand(generator: torch.Generator, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """U[0, 1) drawn on the generator's device in float32 (so float64 inputs get the same draws), then moved."""
    return torch.rand(shape, generator=generator, device=generator.device).to(like.device, like.dtype)


def _randn(generator: torch.Generator, shape: tuple[int, ...], like: Tensor) -> Tensor:
    return torch.randn(shape, generator=generator, device=generator.device).to(like.device, like.dtype)


def _lerp(u: Tensor, lo: float, hi: float) -> Tensor:
    """Map U[0, 1) draws to U[lo, hi)."""
    return u * (hi - lo) + lo


def _scale(h: int, w: int) -> float:
    """Image size relative to the 64 px design size: every length in this module is multiplied by it."""
    return min(h, w) / 64.0


def _half_up(v: float) -> int:
    """Round half up: Python's round() sends 0.5 to the even neighbour, so sizes would not scale monotonically."""
    return math.floor(v + 0.5)


def _max3(x: Tensor, dim: int) -> Tensor:
    """3-tap running maximum along ``dim``; outside the image counts as absent, not as ink or paper.

    Written with shifted in-place maxima: F.max_pool2d measured some 50x slower on CPU for 1-channel batches.
    """
    out = x.clone()
    size = x.shape[dim]
    if size > 1:
        right = out.narrow(dim, 1, size - 1)
        torch.maximum(right, x.narrow(dim, 0, size - 1), out=right)
        left = out.narrow(dim, 0, size - 1)
        torch.maximum(left, x.narrow(dim, 1, size - 1), out=left)
    return out


def _dilate_step(x: Tensor, step: int) -> Tensor:
    """One ring of dilation: a 3x3 cross on odd steps, a 3x3 square on even ones, so r steps grow an octagon,
    close to the disc a worn or bleeding stroke edge follows (a square kernel would grow boxy corners)."""
    if step % 2:
        h = _max3(x, -1)
        return torch.maximum(h, _max3(x, -2), out=h)
    return _max3(_max3(x, -1), -2)


def _dilate(x: Tensor, radius: int) -> Tensor:
    for step in range(1, radius + 1):
        x = _dilate_step(x, step)
    return x


def _smooth_noise(generator: torch.Generator, n: int, h: int, w: int, cells: tuple[float, ...],
                  like: Tensor) -> Tensor:
    """Fractal value noise ``[n, 1, h, w]`` in about [0, 1]: random lattices of ``cells`` cells across the shorter
    side, bicubically upsampled and summed with weights halving per octave (pink-ish, like weathering)."""
    total = torch.zeros((n, 1, h, w), device=like.device, dtype=like.dtype)
    weight_sum = 0.0
    for octave, c in enumerate(cells):
        gh = max(2, _half_up(c * h / min(h, w))) + 1
        gw = max(2, _half_up(c * w / min(h, w))) + 1
        weight = 0.5**octave
        if gh > h or gw > w:  # a lattice as fine as the pixels is the pixels: skip the interpolation
            total.add_(_rand(generator, (n, 1, h, w), like), alpha=weight)
        else:
            lattice = F.interpolate(_rand(generator, (n, 1, gh, gw), like), size=(h, w), mode="bicubic",
                                    align_corners=True)
            total.add_(lattice, alpha=weight)
        weight_sum += weight
    return total.div_(weight_sum).clamp_(0, 1)  # bicubic overshoots a little


def _coarse(h: int, w: int) -> tuple[int, int]:
    """Working size for smooth masks (blobs, chunks, texture): half resolution, a quarter of the pixels.

    Masks are computed as smooth signed scores there, upsampled, and only then turned into crisp edges at full
    resolution, so the saving costs no sharpness."""
    return max(2, (h + 1) // 2), max(2, (w + 1) // 2)


def _grid(h: int, w: int, full_h: int, full_w: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates ``([1,1,h,1], [1,1,1,w])`` of an ``h x w`` grid, in pixels of a ``full_h x full_w``
    image."""
    ys = (torch.arange(h, device=like.device, dtype=like.dtype) + 0.5) * (full_h / h)
    xs = (torch.arange(w, device=like.device, dtype=like.dtype) + 0.5) * (full_w / w)
    return ys.view(1, 1, h, 1), xs.view(1, 1, 1, w)


def _col(p: Tensor, *index: int) -> Tensor:
    """One per-sample parameter from a ``[n, ..., k]`` draw, shaped ``[n, 1, 1, 1]`` to broadcast over images."""
    return p[(slice(None), *index)].reshape(-1, 1, 1, 1)


def _shape_scores(p: Tensor, ys: Tensor, xs: Tensor, radius: Tensor, aspect: Tensor, rect: Tensor | None) -> Tensor:
    """Distance-like score of a rotated ellipse (or rectangle where ``rect``) in pixels: > 0 inside, < 0 outside.

    ``p[..., 0:3]`` hold the centre x, centre y (in pixels) and the angle (in turns); built from one row and one
    column per sample, so only the final few operations touch every pixel."""
    cx, cy = _col(p, 0), _col(p, 1)
    angle = _col(p, 2) * (2 * math.pi)
    cos, sin = torch.cos(angle), torch.sin(angle)
    dx, dy = xs - cx, ys - cy  # [n,1,1,w] and [n,1,h,1]
    u = (dx * (cos / radius)) + (dy * (sin / radius))
    v = (dy * (cos / (radius * aspect))) - (dx * (sin / (radius * aspect)))
    d = torch.hypot(u, v)
    if rect is not None:
        d = torch.where(rect, torch.maximum(u.abs_(), v.abs_()), d)
    # (1 - d) * r is the distance to the edge for a circle and close to it for the rest
    r = radius * aspect.sqrt()
    return torch.addcmul(r, d, r, value=-1)


def _paint(x: Tensor, add: Tensor | None, remove: Tensor | None) -> Tensor:
    """Blend masks in [0, 1] into ``x``: ``add`` moves towards ink (screen), ``remove`` towards paper (multiply).
    Both are convex blends, so the result stays in [0, 1] without wrap-around or clipping artefacts."""
    out = x if add is not None or remove is not None else x.clone()  # never clamp the caller's tensor in place
    if add is not None:
        out = out + add * (1 - out)
    if remove is not None:
        out = out * (1 - remove)
    return out.clamp_(0, 1)


# ---------------------------------------------------------------------------------------------------------------
# the ops


def erode_dilate(x: Tensor, generator: torch.Generator, strength: float = 1.0, *, p_erode: float = 0.5) -> Tensor:
    """Thin (erode) or thicken (dilate) the strokes, per sample.

    Each sample is eroded with probability ``p_erode``, else dilated, by a disc-like kernel of radius
    1..max(1, round(0.6 * strength * size/64)) pixels (RestoreCAE-Zi's 1-5 px square at 224 px, scaled). About
    half the samples are worn all over; the others only in patches bounded by a smooth noise field, since stone
    weathers and ink bleeds unevenly. The change is blended in by 80-100 % (times strength below 1, as the
    kernel cannot shrink under one pixel). Erosion never adds ink and dilation never removes it.
    """
    if _start(x, generator, strength):
        return x.clone()
    n, _, h, w = x.shape
    r_max = max(1, _half_up(0.6 * strength * _scale(h, w)))
    p = _rand(generator, (n, 4), x)
    radius = (p[:, 0] * r_max).floor().add_(1).view(n, 1, 1, 1)
    erode = (p[:, 1] < p_erode).view(n, 1, 1, 1)
    amount = _col(_lerp(p[:, 2], 0.8, 1.0)) * min(1.0, strength)
    # a steep ramp on the noise field gives worn and intact regions, not a grey half-erosion everywhere;
    # thresholds below about -0.06 put the whole glyph in the worn region
    threshold = _col(_lerp(p[:, 3], -0.6, 0.5))
    worn = _smooth_noise(generator, n, h, w, (3.0,), x).sub_(threshold).mul_(8).add_(0.5).clamp_(0, 1)
    weight = worn.mul_(amount)
    # erosion = 1 - dilation(1 - x): one code path, and the border is never mistaken for ink or paper
    y = torch.where(erode, 1 - x, x)
    grown = target = y
    for r in range(1, r_max + 1):
        grown = _dilate_step(grown, r)
        target = grown if r_max == 1 else torch.where(radius >= r, grown, target)
    out = y + weight * (target - y)
    return torch.where(erode, 1 - out, out).clamp_(0, 1)


def blotches(x: Tensor, generator: torch.Generator, strength: float = 1.0, *, p_add: float = 0.5) -> Tensor:
    """Paint 1..max(1, round(4 * strength)) soft ellipses or rectangles per sample that add or remove ink.

    Each blob has its own size (3-12 % of the image side, times sqrt(strength)), aspect, angle, edge softness,
    rough outline and sign (adds ink with probability ``p_add``: a pit or chip, which a rubbing shows like a
    stroke; otherwise removes it: a stain or filled carving). Unlike RestoreCAE-Zi's uint8 rectangles, the
    masks are blended in float, so removing ink never wraps around to bright values.
    """
    if _start(x, generator, strength):
        return x.clone()
    n, _, h, w = x.shape
    s = _scale(h, w)
    count_max = max(1, _half_up(4 * strength))
    ch, cw = _coarse(h, w)
    ys, xs = _grid(ch, cw, h, w, x)
    rough = _smooth_noise(generator, n, ch, cw, (6.0, 12.0), x).sub_(0.5)
    p = _rand(generator, (n, count_max, 10), x)
    count = (_rand(generator, (n,), x) * count_max).floor()
    add_score = torch.full((n, 1, ch, cw), _OFF, device=x.device, dtype=x.dtype)
    remove_score = add_score.clone()
    for b in range(count_max):
        q = p[:, b] * torch.tensor([w, h, 1, 1, 1, 1, 1, 1, 1, 1], device=x.device, dtype=x.dtype)
        radius = _lerp(_col(q, 3), 0.03, 0.12) * (min(h, w) * min(strength, 4.0) ** 0.5)
        rect = _col(q, 5) < 0.4
        score = _shape_scores(q, ys, xs, radius, _lerp(_col(q, 4), 0.4, 1.0), rect)
        score.addcmul_(rough, _col(q, 6) * (3 * s))  # ragged outline, up to +-1.5 px at 64 px
        score.div_(_lerp(_col(q, 7), 0.5, 2.5) * s)  # edge ramp width in pixels
        active = (count >= b).view(n, 1, 1, 1)
        adds = _col(q, 8) < p_add
        torch.maximum(add_score, torch.where(active & adds, score, _OFF), out=add_score)
        torch.maximum(remove_score, torch.where(active & ~adds, score, _OFF), out=remove_score)
    masks = F.interpolate(torch.cat([add_score, remove_score], 1), size=(h, w), mode="bilinear", align_corners=False)
    masks = masks.add_(0.5).clamp_(0, 1)
    level = _lerp(_rand(generator, (n, 2, 1, 1), x), 0.5, 1.0)  # how much ink a blob adds / takes away
    masks.mul_(level)
    return _paint(x, masks[:, 0:1], masks[:, 1:2])


def blur(x: Tensor, generator: torch.Generator, strength: float = 1.0, *, padding: str = "zeros") -> Tensor:
    """Gaussian blur with a per-sample sigma in [0.5, 1.5] * strength * size/64 pixels (separable).

    ``padding="zeros"`` pads with paper, which is what lies beyond a glyph image in glyph's convention;
    ``"reflect"`` mirrors the border instead. The kernel is cut at 3 sigma of the largest possible sigma, so a
    sample's result does not depend on which other samples share its batch.
    """
    if padding not in ("zeros", "reflect"):
        raise GlyphError(f"blur padding must be 'zeros' or 'reflect' (got {padding!r})")
    if _start(x, generator, strength):
        return x.clone()
    n, c, h, w = x.shape
    sigma_max = 1.5 * strength * _scale(h, w)
    sigma = _lerp(_rand(generator, (n, 1), x), 0.5, 1.5) * (strength * _scale(h, w))
    radius = max(1, min(math.ceil(3 * sigma_max), h - 1, w - 1))
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype).view(1, -1)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # [n*c, taps]
    # one group per image: a depthwise convolution applies each sample's own kernel in one call
    y = x.reshape(1, n * c, h, w)
    row, col = kernel.view(n * c, 1, 1, -1), kernel.view(n * c, 1, -1, 1)
    if padding == "reflect":
        y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), row, groups=n * c)
        y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), col, groups=n * c)
    else:
        y = F.conv2d(y, row, padding=(0, radius), groups=n * c)
        y = F.conv2d(y, col, padding=(radius, 0), groups=n * c)
    return y.reshape(n, c, h, w).clamp_(0, 1)


def speckle(x: Tensor, generator: torch.Generator, strength: float = 1.0) -> Tensor:
    """Sprinkle sparse salt (ink) and pepper (paper) spots: up to round(40 * strength) per sample.

    Half the spots are single points, half are dilated by about size/64 pixels with a softer rim; intensities
    vary in [0.5, 1]. Salt on the paper imitates pits in the stone, pepper on the strokes specks of dirt or ink.
    Spots are scattered by index (no full-image random field), so the cost is per spot, not per pixel.
    """
    if _start(x, generator, strength):
        return x.clone()
    n, _, h, w = x.shape
    s = _scale(h, w)
    spots = max(1, _half_up(40 * strength))
    p = _rand(generator, (n, spots, 5), x)
    count = _lerp(_rand(generator, (n, 1), x), 0.25, 1.0) * spots
    active = torch.arange(spots, device=x.device).view(1, -1) < count
    yi = (p[..., 0] * h).long().clamp_(max=h - 1)
    xi = (p[..., 1] * w).long().clamp_(max=w - 1)
    channel = (p[..., 2] < 0.5).long() * 2 + (p[..., 3] < 0.5).long()  # 0/1 salt small/big, 2/3 pepper small/big
    value = torch.where(active, _lerp(p[..., 4], 0.5, 1.0), 0.0)
    maps = torch.zeros((n, 4 * h * w), device=x.device, dtype=x.dtype)
    maps.scatter_reduce_(1, channel * (h * w) + yi * w + xi, value, reduce="amax")
    maps = maps.view(n, 4, h, w)
    big = max(1, _half_up(s))
    small = _dilate(maps[:, 0::2], big - 1)
    large = _dilate(maps[:, 1::2], big - 1)
    # the last ring of a big spot at 60 %: a rounded speck rather than a hard cross or square
    rim = _dilate_step(large, 2).mul_(0.6)
    spots_map = torch.maximum(torch.maximum(small, large, out=small), rim, out=rim)
    return _paint(x, spots_map[:, 0:1], spots_map[:, 1:2])


def cracks(x: Tensor, generator: torch.Generator, strength: float = 1.0, *, p_ink: float = 0.2) -> Tensor:
    """Draw 1..max(1, round(3 * strength)) thin cracks per sample that cut through the strokes.

    A crack is a random walk with a slowly wandering heading, 40-110 % of the image long, centred in the
    middle half of the image so it crosses the glyph; about 1 px wide at 64 px (scaling with size), some with
    a fainter halo, with depth varying along its length. With probability ``p_ink`` a crack adds ink instead
    (a scratch or a crack filled with dirt shows as a line in a rubbing). Points are rasterised by scatter, so
    the cost is per point, not per pixel per segment.
    """
    if _start(x, generator, strength):
        return x.clone()
    n, _, h, w = x.shape
    s, size, span = _scale(h, w), min(h, w), max(h, w)
    count_max = max(1, _half_up(3 * strength))
    step = 0.5  # pixels between points: close enough that a 1 px line has no gaps at any angle
    points = math.ceil(1.1 * span / step)
    p = _rand(generator, (n, count_max, 9), x)
    count = (_rand(generator, (n, 1), x) * count_max).floor()
    length = _lerp(p[..., 0:1], 0.4, 1.1) * span  # [n, k, 1]
    heading0 = p[..., 1:2] * (2 * math.pi)
    wander = _lerp(p[..., 2:3], 0.2, 1.2) * math.sqrt(step / size)  # heading std over the image side, in rad
    heading = heading0 + torch.cumsum(_randn(generator, (n, count_max, points), x) * wander, -1)
    t = torch.arange(points, device=x.device, dtype=x.dtype) * step
    start_x = _lerp(p[..., 3:4], 0.25, 0.75) * w - 0.5 * length * torch.cos(heading0)
    start_y = _lerp(p[..., 4:5], 0.25, 0.75) * h - 0.5 * length * torch.sin(heading0)
    px = start_x + torch.cumsum(torch.cos(heading), -1).mul_(step)
    py = start_y + torch.cumsum(torch.sin(heading), -1).mul_(step)
    # depth varies along the crack: mostly full, fading where the sine dips
    period = _lerp(p[..., 5:6], 10.0, 40.0) * s
    depth = (0.9 + 0.6 * torch.sin(t / period * (2 * math.pi) + p[..., 6:7] * (2 * math.pi))).clamp_(0, 1)
    depth = depth * _lerp(p[..., 7:8], 0.8, 1.0)
    kept = torch.arange(count_max, device=x.device).view(1, -1, 1) <= count.view(n, 1, 1)
    inside = (px >= 0) & (px < w) & (py >= 0) & (py < h) & (t < length) & kept
    channel = (p[..., 8:9] < p_ink).long().expand(-1, -1, points)  # 0 removes ink, 1 adds it
    index = channel * (h * w) + py.long().clamp_(0, h - 1) * w + px.long().clamp_(0, w - 1)
    maps = torch.zeros((n, 2 * h * w), device=x.device, dtype=x.dtype)
    maps.scatter_reduce_(1, index.view(n, -1), torch.where(inside, depth, 0.0).view(n, -1), reduce="amax")
    core_radius = max(0, _half_up((s - 1) / 2))  # 1 px at 64 px, 3 px at 128 and 224 px
    core = _dilate(maps.view(n, 2, h, w), core_radius)
    halo = _dilate_step(core, core_radius + 1) * _lerp(_rand(generator, (n, 1, 1, 1), x), 0.2, 0.9)
    lines = torch.maximum(core, halo, out=core)
    return _paint(x, lines[:, 1:2], lines[:, 0:1])


def missing_chunks(x: Tensor, generator: torch.Generator, strength: float = 1.0) -> Tensor:
    """Remove the ink in 1..max(1, round(2 * strength)) large irregular regions per sample.

    Each region is an ellipse of radius 10-25 % of the image side (times sqrt(strength)) whose outline is
    roughened by fractal noise until it looks broken rather than drawn, with a sharp edge. Centres avoid the
    outer 5 % of the image, yet a region may still cut the border, as when the edge of a stele breaks off.
    Inside, 85-100 % of the ink is lost.
    """
    if _start(x, generator, strength):
        return x.clone()
    n, _, h, w = x.shape
    s = _scale(h, w)
    count_max = max(1, _half_up(2 * strength))
    ch, cw = _coarse(h, w)
    ys, xs = _grid(ch, cw, h, w, x)
    rough = _smooth_noise(generator, n, ch, cw, (3.0, 6.0, 12.0, 24.0), x).sub_(0.5).mul_(2)
    p = _rand(generator, (n, count_max, 6), x)
    count = (_rand(generator, (n,), x) * count_max).floor()
    score = torch.full((n, 1, ch, cw), _OFF, device=x.device, dtype=x.dtype)
    for b in range(count_max):
        q = p[:, b] * torch.tensor([w, h, 1, 1, 1, 1], device=x.device, dtype=x.dtype)
        # centres span 5-95 % of the image: a chunk may bite into the border, yet seldom misses the glyph
        q[:, 0:2] = q[:, 0:2] * 0.9 + 0.05 * torch.tensor([w, h], device=x.device, dtype=x.dtype)
        radius = _lerp(_col(q, 3), 0.10, 0.25) * (min(h, w) * min(strength, 4.0) ** 0.5)
        chunk = _shape_scores(q, ys, xs, radius, _lerp(_col(q, 4), 0.5, 1.0), None)
        chunk.addcmul_(rough, radius * _lerp(_col(q, 5), 0.3, 0.7))
        active = (count >= b).view(n, 1, 1, 1)
        torch.maximum(score, torch.where(active, chunk, _OFF), out=score)
    mask = F.interpolate(score, size=(h, w), mode="bilinear", align_corners=False)
    mask = mask.div_(0.75 * s).add_(0.5).clamp_(0, 1)  # a sharp, about one-pixel edge: broken stone
    mask.mul_(_lerp(_rand(generator, (n, 1, 1, 1), x), 0.85, 1.0))
    return _paint(x, None, mask)


def stone_texture(x: Tensor, generator: torch.Generator, strength: float = 1.0) -> Tensor:
    """Overlay the stone: low-frequency mottling and high-frequency grain.

    Mottling (3-6 cells across) fades the ink by up to 15-50 % * strength where the stone took less ink and
    lifts the paper by up to 15 % * strength in stains; grain (16-32 cells across, about 2-4 px at 64 px)
    adds +-(5-30 %) * strength of rough surface to ink and paper alike. Both fields scale with the image.
    """
    if _start(x, generator, strength):
        return x.clone()
    n, _, h, w = x.shape
    ch, cw = _coarse(h, w)
    # both fields at half resolution, upsampled together: the grain is 2 px at 64 px, finer would be aliasing
    mottle = _smooth_noise(generator, n, ch, cw, (3.0, 6.0), x)
    grain = _smooth_noise(generator, n, ch, cw, (16.0, 32.0), x)
    fields = F.interpolate(torch.cat([mottle, grain], 1), size=(h, w), mode="bilinear", align_corners=False)
    mottle, grain = fields[:, 0:1], fields[:, 1:2]
    p = _rand(generator, (n, 3), x)
    fade = _col(_lerp(p[:, 0], 0.15, 0.5)) * min(strength, 1.8)
    lift = _col(_lerp(p[:, 1], 0.0, 0.15)) * strength
    grit = _col(_lerp(p[:, 2], 0.05, 0.3)) * strength
    # grain values average towards 0.5 over two octaves, so stretch them back to about [-1, 1]
    out = x * (1 - fade * mottle) + lift * mottle * (1 - x) + grit * (grain - 0.5) * 2.5
    return out.clamp_(0, 1)


def low_contrast(x: Tensor, generator: torch.Generator, strength: float = 1.0) -> Tensor:
    """Pull ink and paper towards each other: a faded, grey rubbing.

    The ink-paper difference becomes ``c = 1 - U(0.3, 0.75) * strength`` (at least 0.15) and the paper level a
    random point of the freed range, so paper is lifted and ink dimmed by a per-sample split.
    """
    if _start(x, generator, strength):
        return x.clone()
    n = x.shape[0]
    p = _rand(generator, (n, 2), x)
    contrast = (1 - _lerp(p[:, 0], 0.3, 0.75) * strength).clamp_(0.15, 1.0)
    paper = p[:, 1] * (1 - contrast)
    return (x * _col(contrast) + _col(paper)).clamp_(0, 1)


Op = Callable[..., Tensor]

# Every damage op by name; Damage looks them up here at call time, so tests can spy on them.
# Beyond this every op saturates (the glyph is gone); a larger number is a typo, not a setting.
MAX_STRENGTH = 10.0

OPS: dict[str, Op] = {
    "erode_dilate": erode_dilate,
    "blotches": blotches,
    "blur": blur,
    "speckle": speckle,
    "cracks": cracks,
    "missing_chunks": missing_chunks,
    "stone_texture": stone_texture,
    "low_contrast": low_contrast,
}


# ---------------------------------------------------------------------------------------------------------------
# the pipeline


@dataclass
class Damage:
    """Apply ``k`` distinct ops from ``ops`` to every sample, in a random order per sample (RestoreCAE-Zi's
    ``PaintingTransform(steps=3)`` with glyph's ops), each at ``strength``.

    ``damage = Damage(k=2); y = damage(x, torch.Generator().manual_seed(0))``. :meth:`plan` draws which ops each
    sample gets and :meth:`apply` runs a plan; calling the object does both.
    """

    ops: tuple[str, ...] = tuple(OPS)
    k: int = 3
    strength: float = 1.0

    def __post_init__(self) -> None:
        self.ops = (self.ops,) if isinstance(self.ops, str) else tuple(self.ops)
        for name in self.ops:
            if name not in OPS:
                raise GlyphError(f"unknown damage op {name!r}{did_you_mean(name, OPS)}; "
                                 f"choose from {', '.join(OPS)}")
        if len(set(self.ops)) != len(self.ops):
            raise GlyphError(f"damage ops must be distinct (got {', '.join(self.ops)})")
        if not isinstance(self.k, int) or not 0 <= self.k <= len(self.ops):
            raise GlyphError(f"damage k must be a whole number from 0 to {len(self.ops)}, the number of ops "
                             f"(got {self.k!r})")
        if not math.isfinite(self.strength) or not 0 <= self.strength <= MAX_STRENGTH:
            raise GlyphError(f"damage strength must be a number from 0 to {MAX_STRENGTH:g} (1: default, 2: heavy; "
                             f"got {self.strength})")

    def plan(self, n: int, generator: torch.Generator) -> Tensor:
        """Draw which ops each of ``n`` samples gets, in order: a long tensor ``[n, k]`` of indices into ``ops``.

        The first ``k`` entries of a random permutation per row: distinct ops, uniformly chosen, random order.
        """
        keys = torch.rand((n, len(self.ops)), generator=generator, device=generator.device)
        return keys.argsort(dim=1, stable=True)[:, : self.k]

    def apply(self, x: Tensor, plan: Tensor, generator: torch.Generator) -> Tensor:
        """Run ``plan`` (from :meth:`plan`) on ``x``: at step j, every sample whose j-th op is o goes through o
        together with the others, so each op runs once per step on its share of the batch."""
        _start(x, generator, self.strength)
        if plan.shape != (x.shape[0], self.k):
            raise GlyphError(f"damage plan has shape {tuple(plan.shape)}, expected ({x.shape[0]}, {self.k})")
        out = x.clone()
        plan = plan.to(x.device)
        for step in range(self.k):
            for index, name in enumerate(self.ops):
                rows = (plan[:, step] == index).nonzero().squeeze(1)
                if rows.numel():
                    out.index_copy_(0, rows, OPS[name](out.index_select(0, rows), generator, self.strength))
        return out

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Damage the float batch ``x`` ``[N, C, H, W]`` (1 = ink) with randomness from ``generator`` only."""
        _start(x, generator, self.strength)
        return self.apply(x, self.plan(x.shape[0], generator), generator)


def block_generator(seed: int, block: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator :func:`damage_images` uses for block ``block`` of a dataset damaged with ``seed``.

    Seeds are hashed from (seed, block), so neighbouring seeds or blocks do not share streams.
    """
    digest = hashlib.blake2b(f"glyph.damage:{seed}:{block}".encode(), digest_size=8).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest, "little"))


def _auto_block(h: int, w: int) -> int:
    """Images per block: about 4 M pixels (16 MB as float32), which keeps CPU temporaries below the allocator's
    mmap threshold and GPU memory modest; 1024 at 64 px, 256 at 128 px, 83 at 224 px."""
    return max(16, min(1024, (1 << 22) // (h * w)))


def damage_images(images: Tensor, seed: int = 0, config: Damage | None = None, *,
                  block_size: int | None = None, progress: Callable[[int, int], None] | None = None) -> Tensor:
    """Damage a whole uint8 dataset ``[N, C, H, W]`` (255 = ink) and return a new uint8 tensor like it.

    Images are processed ``block_size`` at a time (default: about 4 M pixels per block, see ``_auto_block``), on
    their own device, block ``b`` drawing from :func:`block_generator(seed, b) <block_generator>`. So memory is
    bounded, and an image's damage depends only on the seed, its block and its own content: any prefix of the
    dataset that ends on a block boundary is damaged exactly as in the whole. Keep ``block_size`` (and the image
    size that sets its default) fixed to reproduce a dataset. ``progress(done, total)`` is called per block.
    """
    if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        got = f"{tuple(images.shape)} {images.dtype}" if isinstance(images, Tensor) else type(images).__name__
        raise GlyphError(f"damage_images takes a uint8 tensor [N, C, H, W] with 255 = ink (got {got}); "
                         "for float batches call a Damage object directly")
    config = Damage() if config is None else config
    n, _, h, w = images.shape
    block = _auto_block(h, w) if block_size is None else block_size
    if block < 1:
        raise GlyphError(f"damage_images block_size must be at least 1 (got {block})")
    out = torch.empty_like(images)
    for b, start in enumerate(range(0, n, block)):
        chunk = images[start : start + block].to(torch.float32).div_(255)
        damaged = config(chunk, block_generator(seed, b, images.device))
        out[start : start + block] = damaged.mul_(255).round_().to(torch.uint8)
        if progress is not None:
            progress(min(start + block, n), n)
    return out


@dataclass
class DamagedSet:
    """What :func:`write_damage_pairs` wrote."""

    pairs: int  # damaged/ and clean/ images, one each per glyph
    templates: int = 0  # template/ images, one per character
    template_error: str | None = None  # why template/ was not written although asked for
    template_missing: int = 0  # characters the template font lacks (no template/ image)


def write_damage_pairs(src: str | Path, out: str | Path, seed: int = 0, config: Damage | None = None,
                       n: int | None = None, template_font: str | None = "noto-sans-sc-regular",
                       layout: str | None = None, progress: Callable[[str, int, int], None] | None = None
                       ) -> DamagedSet:
    """Write damaged/clean pairs of a dataset's glyphs for restoration, and each character in a standard font
    (``glyph data damage``).

    Into the new folder ``out``, dark ink on white: ``damaged/<writer>/<char>.png`` and ``clean/<writer>/<char>.png``
    (writer ``all`` and numbered files for unlabelled data), and ``template/<char>.png`` when the data has
    characters and ``template_font`` is given.

    :param src: clean glyphs: a dataset folder, a folder of images, a packed file or ``embedded``.
    :param config: the damage (default: ``Damage()``), drawn reproducibly from ``seed`` (see :func:`damage_images`).
    :param n: only the first ``n`` glyphs.
    :param template_font: the face of template/ (see :func:`glyph.data.fonts.parse_font_specs`); None: none.
    :param progress: called as ``progress(task, done, total)`` for the tasks ``damaging`` and ``writing pairs``.
    :raises GlyphError: when ``out`` is not a new folder, or ``src`` cannot be read or holds colour images. A
        template font that cannot be used does not raise: the result says why instead.
    """
    import numpy as np

    from ..imageio import write_image
    from ..paths import check_output_dir, inside, safe_name
    from .sources import open_dataset

    out = check_output_dir(out)
    data = open_dataset(src, layout)
    if data.channels != 1:
        raise GlyphError(f"{src} holds colour images; damage works on glyphs (one channel)")
    if n is not None:
        data = data.subset(slice(0, n))
    task = progress or (lambda _task, _done, _total: None)
    damaged = damage_images(data.images, seed=seed, config=config,
                            progress=lambda done, total: task("damaging", done, total)).numpy()
    chars = data.label_names("char") if "char" in data.labels else [f"{i:06d}" for i in range(len(data))]
    writers = data.label_names("writer") if "writer" in data.labels else ["all"] * len(data)
    # Class names come from the dataset file: made safe and kept inside out (a crafted '../..' must not escape).
    # A writer's second glyph of one character (永.png and 永_2.png in a folder) gets its own name, 永_2.png, as
    # references are named: never one pair written over another.
    taken: set[tuple[str, str]] = set()
    for i, (ch, w) in enumerate(zip(chars, writers, strict=True)):
        stem, k = safe_name(ch), 1
        while (safe_name(w), stem if k == 1 else f"{stem}_{k}") in taken:
            k += 1
        name = stem if k == 1 else f"{stem}_{k}"
        taken.add((safe_name(w), name))
        write_image(inside(out, "damaged", w, f"{name}.png"), 1.0 - damaged[i, 0] / 255.0)
        write_image(inside(out, "clean", w, f"{name}.png"), 1.0 - data.images[i, 0].numpy() / 255.0)
        if i % 64 == 0 or i == len(data) - 1:
            task("writing pairs", i + 1, len(data))
    result = DamagedSet(len(data))
    if "char" not in data.labels or template_font is None:
        return result
    from .fonts import parse_font_specs
    from .render import RenderSpec, render_faces

    meta = data.meta.get("render", {})
    spec = RenderSpec(size=data.size[0], margin=meta.get("margin", 0.06), fit=meta.get("fit", "box"))
    try:
        (r,) = render_faces(parse_font_specs(template_font), sorted(set(chars)), spec)
    except GlyphError as e:
        result.template_error = str(e)
        return result
    for img, ch in zip(r.images, r.chars, strict=True):
        write_image(inside(out, "template", f"{safe_name(ch)}.png"), 1.0 - img.astype(np.float32) / 255.0)
    result.templates, result.template_missing = len(r.chars), sum(len(v) for v in r.dropped.values())
    return result
