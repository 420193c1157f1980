"""A writer's geometry: how a hand leans, stretches, turns and sits in the box, as one warp of a glyph image.

A person's handwriting differs from a print face not only in the pen (stroke weight, ends, ink) but in its
geometry: a consistent slant, a taller or wider aspect, a small rotation, glyphs that sit larger or smaller and
off centre, and parts of characters that grow or shrink. :class:`Geometry` holds those habits for a batch of
glyphs; :func:`warp` applies them to images (ink = high values, paper = the lowest), so that a template can be
given a writer's geometry before a generator writes it, and a training pair (template, target) can be given the
same random geometry, teaching the generator to follow a leaning, stretched template.

Conventions: image coordinates normalised to [-1, 1] (x right, y down, the box's centre at 0). The slant is the
angle in degrees by which vertical strokes lean to the right (italic > 0); the rotation turns the glyph clockwise
by that many degrees; the aspect is width over height (1 keeps it, 1.2 is 20 % wider than tall, the area kept);
the scale enlarges the glyph about the centre; the shift moves it (in box halves: 0.1 is 5 % of the box).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class Geometry:
    """Per-glyph geometric habits, each a tensor of shape ``[N]`` (``flow``: ``[N, 2, G, G]`` or None).

    ``flow`` is a smooth displacement on a coarse G x G grid (normalised units, x then y), interpolated over
    the image: which parts of a character grow or shrink.
    """

    slant: torch.Tensor
    aspect: torch.Tensor
    rotation: torch.Tensor
    scale: torch.Tensor
    shift_x: torch.Tensor
    shift_y: torch.Tensor
    flow: torch.Tensor | None = None

    @classmethod
    def identity(cls, n: int) -> Geometry:
        """``n`` glyphs left as they are."""
        zeros, ones = torch.zeros(n), torch.ones(n)
        return cls(zeros, ones.clone(), zeros.clone(), ones.clone(), zeros.clone(), zeros.clone())

    def __len__(self) -> int:
        return len(self.slant)

    def repeat_interleave(self, repeats: int | torch.Tensor) -> Geometry:
        """Each glyph's geometry repeated (a writer's geometry for each of its glyphs)."""
        def r(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.repeat_interleave(repeats, dim=0)
        return Geometry(*(r(t) for t in (self.slant, self.aspect, self.rotation, self.scale, self.shift_x,
                                         self.shift_y)), flow=r(self.flow))  # type: ignore[misc]

    def forward_matrix(self) -> torch.Tensor:
        """``[N, 3, 3]``: where each point of the upright glyph goes (scale and aspect, then slant, rotation,
        shift), in normalised coordinates."""
        n = len(self)
        sx = self.scale * self.aspect.sqrt()
        sy = self.scale / self.aspect.sqrt()
        shear = torch.tan(torch.deg2rad(self.slant))
        rot = torch.deg2rad(self.rotation)
        m = torch.zeros(n, 3, 3)
        m[:, 2, 2] = 1
        # Scale, then shear (x -= tan(slant) * y: y points down, so the top moves right), then rotate.
        a = torch.stack([torch.stack([sx, -shear * sy], -1), torch.stack([torch.zeros(n), sy], -1)], -2)
        c, s = torch.cos(rot), torch.sin(rot)
        r = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
        m[:, :2, :2] = r @ a
        m[:, 0, 2], m[:, 1, 2] = self.shift_x, self.shift_y
        return m


def random_geometries(n: int, generator: torch.Generator | None = None, strength: float = 1.0,
                      flow_grid: int = 3) -> Geometry:
    """``n`` random writers' geometries, as varied as handwriting's (at ``strength`` 1): slant within +-15 degrees,
    rotation +-5 degrees, aspect 0.8-1.25, scale 0.85-1.05, shift +-0.06, a smooth flow of up to 0.05."""
    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    s = strength
    aspect = torch.exp(u(math.log(0.8), math.log(1.25)) * s)
    flow = (torch.rand(n, 2, flow_grid, flow_grid, generator=generator) * 2 - 1) * 0.05 * s if flow_grid else None
    return Geometry(u(-15, 15) * s, aspect, u(-5, 5) * s, 1 + u(-0.15, 0.05) * s, u(-0.06, 0.06) * s,
                    u(-0.06, 0.06) * s, flow)


def warp(images: torch.Tensor, geometry: Geometry, paper: float | None = None) -> torch.Tensor:
    """``images`` ``[N, C, H, W]`` given ``geometry`` (one per image); what comes in from outside the box is paper.

    :param paper: the value of paper (default: the images' lowest value: 0 for uint8-style ink maps, -1 for the
        networks' [-1, 1] with ink = +1). Integer images come back in their dtype, rounded.
    """
    if len(geometry) != len(images):
        raise ValueError(f"{len(geometry)} geometries for {len(images)} images")
    x = images.float()
    low = float(x.min()) if paper is None else paper
    inverse = torch.linalg.inv(geometry.forward_matrix())[:, :2].to(x.device)  # output point -> input point
    grid = F.affine_grid(inverse, list(x.shape), align_corners=False)
    if geometry.flow is not None:
        # Moving the sampling points by -flow moves the ink by about +flow.
        flow = F.interpolate(geometry.flow.to(x.device), size=x.shape[-2:], mode="bicubic", align_corners=True)
        grid = grid - flow.permute(0, 2, 3, 1)
    out = F.grid_sample(x - low, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + low
    if not images.dtype.is_floating_point:
        return out.round().clamp(torch.iinfo(images.dtype).min, torch.iinfo(images.dtype).max).to(images.dtype)
    return out


# Fitting a writer's geometry: which (slant, aspect, rotation, scale, shift) turns the template glyphs into the
# writer's. Pens differ (a ballpoint's thin line against the template's heavy strokes), so the images are compared
# as blurred ink distributions, each scaled to a unit sum: where the ink lies, not how dark or thick it is.
FIT_SIGMAS = (3.0, 1.5)  # coarse to fine blur, in pixels at 64 px
FIT_STARTS = (-12.0, 0.0, 12.0)  # slants to start from (a local search alone can settle on the wrong lean)
PARAMS = ("slant", "aspect", "rotation", "scale", "shift_x", "shift_y")


@dataclass
class GeometryFit:
    """A writer's measured habits (one geometry for all their glyphs) and how well it explains them."""

    slant: float  # degrees, + leans right
    aspect: float  # width over height relative to the template's
    rotation: float  # degrees, + clockwise
    scale: float
    shift_x: float  # box halves, + right
    shift_y: float  # box halves, + down
    residual: float  # the fitted distance between warped templates and samples
    residual_identity: float  # the same with no geometry: how much the fit explains
    samples: int

    def geometry(self, n: int = 1) -> Geometry:
        """The habits as a :class:`Geometry` for ``n`` glyphs."""
        def full(v: float) -> torch.Tensor:
            return torch.full((n,), float(v))
        return Geometry(full(self.slant), full(self.aspect), full(self.rotation), full(self.scale),
                        full(self.shift_x), full(self.shift_y))

    def as_dict(self) -> dict[str, float]:
        """Plain numbers, for ``--json`` and reports."""
        return {k: round(float(getattr(self, k)), 4) for k in (*PARAMS, "residual", "residual_identity", "samples")}


def _as_ink(images: torch.Tensor) -> torch.Tensor:
    """``[K, H, W]`` or ``[K, 1, H, W]`` ink maps of any range -> floats ``[K, 1, H, W]`` in [0, 1], ink = 1."""
    x = images.float()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    low = x.amin(dim=(1, 2, 3), keepdim=True)
    high = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x - low) / (high - low).clamp(min=1e-6)


def _mass(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blurred ink, scaled to a unit sum per image."""
    from scipy.ndimage import gaussian_filter

    blurred = torch.from_numpy(gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="constant"))
    return blurred / blurred.sum(dim=(1, 2, 3), keepdim=True).clamp(min=1e-9)


def _geometry_of(p: Any, n: int) -> Geometry:
    slant, log_aspect, rotation, log_scale, dx, dy = (float(v) for v in p)
    def full(v: float) -> torch.Tensor:
        return torch.full((n,), v)
    return Geometry(full(slant), full(math.exp(log_aspect)), full(rotation), full(math.exp(log_scale)), full(dx),
                    full(dy))


def measure(templates: torch.Tensor, samples: torch.Tensor) -> GeometryFit:
    """Fit one geometry that turns each template glyph into the writer's sample of the same character.

    :param templates: ``[K, H, W]`` or ``[K, 1, H, W]``, ink high (uint8 255 = ink, or floats), one per sample.
    :param samples: the writer's glyphs of the same characters, same shape and convention.
    :returns: the habits (slant, aspect, rotation, scale, shift) and the residual with and without them.
    :raises ValueError: different numbers of templates and samples, or none.
    """
    import numpy as np
    from scipy.optimize import minimize

    if len(templates) != len(samples) or len(templates) == 0:
        raise ValueError(f"measure needs one template per sample, got {len(templates)} and {len(samples)}")
    t, s = _as_ink(templates), _as_ink(samples)
    k = len(t)
    bounds = [(-35.0, 35.0), (math.log(0.5), math.log(2.0)), (-20.0, 20.0), (math.log(0.5), math.log(1.6)),
              (-0.5, 0.5), (-0.5, 0.5)]

    def cost(p: Any, target: torch.Tensor, sigma: float) -> float:
        warped = warp(t, _geometry_of(np.clip(p, [b[0] for b in bounds], [b[1] for b in bounds]), k), paper=0.0)
        return float(((_mass(warped, sigma) - target) ** 2).sum() * 1e4 / k)

    best = None
    for slant in FIT_STARTS:
        p = np.array([slant, 0.0, 0.0, 0.0, 0.0, 0.0])
        for sigma in FIT_SIGMAS:
            target = _mass(s, sigma)
            p = minimize(cost, p, args=(target, sigma), method="Powell", bounds=bounds,
                         options={"xtol": 1e-3, "ftol": 1e-5, "maxfev": 2000}).x
        value = cost(p, _mass(s, FIT_SIGMAS[-1]), FIT_SIGMAS[-1])
        if best is None or value < best[0]:
            best = (value, p)
    assert best is not None
    value, p = best
    identity = cost(np.zeros(6), _mass(s, FIT_SIGMAS[-1]), FIT_SIGMAS[-1])
    slant, log_aspect, rotation, log_scale, dx, dy = (float(v) for v in p)
    return GeometryFit(slant, math.exp(log_aspect), rotation, math.exp(log_scale), dx, dy, value, identity, k)
