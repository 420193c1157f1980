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
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

PARAMS = ("slant", "aspect", "rotation", "scale", "shift_x", "shift_y")


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


# How far handwriting's habits go, at strength 1: what random_geometries draws for training, and so the range a
# generator trained on leaning templates has seen (a measured habit is clamped into it before writing).
HANDWRITING = {"slant": (-15.0, 15.0), "aspect": (0.8, 1.25), "rotation": (-5.0, 5.0), "scale": (0.85, 1.05),
               "shift_x": (-0.06, 0.06), "shift_y": (-0.06, 0.06)}
FLOW = 0.05  # largest smooth displacement of random_geometries' flow, at strength 1


def _scaled(name: str, strength: float) -> tuple[float, float]:
    """``HANDWRITING[name]`` scaled about no change (aspect and scale about 1, on a log scale for aspect)."""
    lo, hi = HANDWRITING[name]
    if name == "aspect":
        return math.exp(math.log(lo) * strength), math.exp(math.log(hi) * strength)
    if name == "scale":
        return 1 + (lo - 1) * strength, 1 + (hi - 1) * strength
    return lo * strength, hi * strength


def random_geometries(n: int, generator: torch.Generator | None = None, strength: float = 1.0,
                      flow_grid: int = 3) -> Geometry:
    """``n`` random writers' geometries, as varied as handwriting's (``HANDWRITING`` at ``strength`` 1): slant within
    +-15 degrees, rotation +-5 degrees, aspect 0.8-1.25, scale 0.85-1.05, shift +-0.06, a smooth flow of up to
    0.05."""
    def u(name: str) -> torch.Tensor:
        lo, hi = _scaled(name, strength)
        if name == "aspect":
            return torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * torch.rand(n, generator=generator))
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    slant, aspect, rotation, scale, dx, dy = (u(name) for name in PARAMS)
    flow = ((torch.rand(n, 2, flow_grid, flow_grid, generator=generator) * 2 - 1) * FLOW * strength
            if flow_grid else None)
    return Geometry(slant, aspect, rotation, scale, dx, dy, flow)


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
FLOW_GRID = 3  # the measured proportions' grid, as random_geometries draws them in training
FLOW_FIT = FLOW  # the largest displacement a measured flow may have: what training draws, so what is written
FLOW_GAIN = 0.02  # the share of the held-out distance a flow must take away on each half of the samples
FLOW_RIDGE = 0.05  # how strongly the flow fit prefers none, per squared FLOW of mean displacement
# Fewest samples the proportions are measured on: on 8 (halves of 4) a flow fitted to one half still came out
# "confirmed" by the other for a brush hand and then moved the writer's unseen characters further from the truth.
FLOW_SAMPLES = 16


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
    # The proportions: a smooth displacement on a G x G grid ([2][G][G] nested lists, normalised units, x then y,
    # as Geometry.flow), or None when the samples show no consistent one (see measure).
    flow: list[list[list[float]]] | None = None

    def geometry(self, n: int = 1) -> Geometry:
        """The habits as a :class:`Geometry` for ``n`` glyphs."""
        def full(v: float) -> torch.Tensor:
            return torch.full((n,), float(v))
        flow = None if self.flow is None else torch.tensor(self.flow, dtype=torch.float32).expand(n, -1, -1, -1)
        return Geometry(full(self.slant), full(self.aspect), full(self.rotation), full(self.scale),
                        full(self.shift_x), full(self.shift_y), flow)

    def within(self, strength: float = 1.0) -> GeometryFit:
        """The habits clamped into the range of ``HANDWRITING`` at ``strength``: what a generator trained on
        templates warped by :func:`random_geometries` at that strength has seen (beyond it, it breaks strokes)."""
        values = {}
        for name in PARAMS:
            lo, hi = _scaled(name, strength)
            values[name] = min(max(float(getattr(self, name)), lo), hi)
        bound = FLOW * strength
        flow = None if self.flow is None else \
            torch.tensor(self.flow, dtype=torch.float64).clamp(-bound, bound).tolist()
        return GeometryFit(**values, residual=self.residual, residual_identity=self.residual_identity,
                           samples=self.samples, flow=flow)

    def describe(self) -> str:
        """One line a person can read: ``leans 8.1 degrees right, 6 % narrower, turned 1.2 degrees clockwise``."""
        lean = "upright" if abs(self.slant) < 0.5 else \
            f"leans {abs(self.slant):.1f} degrees {'right' if self.slant > 0 else 'left'}"
        width = "as wide as the template" if abs(self.aspect - 1) < 0.01 else \
            f"{abs(self.aspect - 1) * 100:.0f} % {'wider' if self.aspect > 1 else 'narrower'}"
        turn = "not turned" if abs(self.rotation) < 0.5 else \
            f"turned {abs(self.rotation):.1f} degrees {'clockwise' if self.rotation > 0 else 'anticlockwise'}"
        moved = self.moved_px()
        parts = "" if moved < 0.25 else f", parts moved up to {moved:.1f} px of 64"
        return f"{lean}, {width}, {turn}{parts}"

    def moved_px(self) -> float:
        """How far the proportions move any part of a glyph, in pixels of a 64-px box (0 without a flow; a
        normalised unit is 32 px)."""
        return 0.0 if self.flow is None else float(torch.tensor(self.flow).abs().max()) * 32

    def flow_planes(self, grid: int) -> torch.Tensor:
        """The flow as ``[2, grid, grid]``, zeros when none was measured (for comparing and correcting flows)."""
        return torch.zeros(2, grid, grid) if self.flow is None else torch.tensor(self.flow)

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers (and the flow as nested lists, when measured), for ``--json`` and reports."""
        out: dict[str, Any] = {k: round(float(getattr(self, k)), 4)
                               for k in (*PARAMS, "residual", "residual_identity", "samples")}
        if self.flow is not None:
            out["flow"] = [[[round(float(v), 4) for v in row] for row in plane] for plane in self.flow]
        return out


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


def measure(templates: torch.Tensor, samples: torch.Tensor, flow_grid: int = FLOW_GRID) -> GeometryFit:
    """Fit one geometry that turns each template glyph into the writer's sample of the same character.

    First the global habits (slant, aspect, rotation, scale, shift); then, with ``flow_grid``, the proportions: one
    smooth displacement on a ``flow_grid`` x ``flow_grid`` grid shared by all the samples (which parts of a
    character the hand makes larger or smaller, higher or lower), kept only when it also explains samples it was
    not fitted on (:func:`_fit_flow`).

    :param templates: ``[K, H, W]`` or ``[K, 1, H, W]``, ink high (uint8 255 = ink, or floats), one per sample.
    :param samples: the writer's glyphs of the same characters, same shape and convention.
    :param flow_grid: the proportions' grid (0: the global habits only).
    :returns: the habits and the residual with and without them.
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
    low, high = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    # The templates are blurred once and then warped (a blur and a warp nearly commute), so that each evaluation
    # is one grid_sample and not a filter as well.
    blurred = {sigma: (_mass(t, sigma) * t[0].numel(), _mass(s, sigma)) for sigma in FIT_SIGMAS}

    def cost(p: Any, sigma: float) -> float:
        source, target = blurred[sigma]
        warped = warp(source, _geometry_of(np.clip(p, low, high), k), paper=0.0)
        warped = warped / warped.sum(dim=(1, 2, 3), keepdim=True).clamp(min=1e-9)
        return float(((warped - target) ** 2).sum() * 1e4 / k)

    def fit(p: Any, sigma: float) -> Any:
        return minimize(cost, p, args=(sigma,), method="Powell", bounds=bounds,
                        options={"xtol": 1e-3, "ftol": 1e-5, "maxfev": 2000}).x

    # Every start at the coarse blur, then the best of them refined at the fine one.
    coarse, fine = FIT_SIGMAS[0], FIT_SIGMAS[-1]
    starts = [fit(np.array([slant, 0.0, 0.0, 0.0, 0.0, 0.0]), coarse) for slant in FIT_STARTS]
    p = fit(min(starts, key=lambda q: cost(q, coarse)), fine)
    value = cost(p, fine)
    identity = cost(np.zeros(6), fine)
    slant, log_aspect, rotation, log_scale, dx, dy = (float(v) for v in p)
    flow = None
    if flow_grid:
        source, target = blurred[fine]
        found = _fit_flow(source, target, _geometry_of(np.clip(p, low, high), k), flow_grid)
        if found is not None:
            flow, value = found[0].tolist(), found[1]
    return GeometryFit(slant, math.exp(log_aspect), rotation, math.exp(log_scale), dx, dy, value, identity, k, flow)


def _flow_cost(source: torch.Tensor, target: torch.Tensor, affine: Geometry, flow: torch.Tensor) -> torch.Tensor:
    """The fit's distance (as in :func:`measure`) of the sources given ``affine`` and one shared ``flow``
    ``[2, G, G]``, differentiable in ``flow``."""
    k = len(source)
    g = Geometry(affine.slant, affine.aspect, affine.rotation, affine.scale, affine.shift_x, affine.shift_y,
                 flow.unsqueeze(0).expand(k, -1, -1, -1))
    warped = warp(source, g, paper=0.0)
    warped = warped / warped.sum(dim=(1, 2, 3), keepdim=True).clamp(min=1e-9)
    return ((warped - target) ** 2).sum() * 1e4 / k


def _solve_flow(source: torch.Tensor, target: torch.Tensor, affine: Geometry, grid: int) -> torch.Tensor:
    """The shared flow that best explains the pairs, within ``+-FLOW_FIT``, with a small ridge toward none."""
    import numpy as np
    from scipy.optimize import minimize

    def cost(x: Any) -> tuple[float, Any]:
        f = torch.tensor(x, dtype=torch.float32).reshape(2, grid, grid).requires_grad_(True)
        value = _flow_cost(source, target, affine, f) + FLOW_RIDGE * (f / FLOW).pow(2).mean()
        value.backward()
        return float(value.detach()), f.grad.double().flatten().numpy()  # type: ignore[union-attr]

    found = minimize(cost, np.zeros(2 * grid * grid), jac=True, method="L-BFGS-B",
                     bounds=[(-FLOW_FIT, FLOW_FIT)] * (2 * grid * grid), options={"maxiter": 200})
    return torch.tensor(found.x, dtype=torch.float32).reshape(2, grid, grid)


def _fit_flow(source: torch.Tensor, target: torch.Tensor, affine: Geometry, grid: int
              ) -> tuple[torch.Tensor, float] | None:
    """The writer's proportions: one flow fitted on all the pairs, or None unless a flow fitted on each half of
    them brings the other half closer too (a shared flow can always bend a few glyphs toward their samples; what a
    hand does consistently also holds for characters it was not fitted on).

    :returns: the flow ``[2, G, G]`` and the fit's distance with it.
    """
    k = len(source)
    if k < FLOW_SAMPLES:
        return None
    halves = (torch.arange(0, k, 2), torch.arange(1, k, 2))
    none = torch.zeros(2, grid, grid)

    def part(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Geometry]:
        return source[idx], target[idx], Geometry(*(getattr(affine, n)[idx] for n in PARAMS))

    for fitted, held in (halves, halves[::-1]):
        f = _solve_flow(*part(fitted), grid)
        with torch.no_grad():
            if float(_flow_cost(*part(held), f)) > float(_flow_cost(*part(held), none)) * (1 - FLOW_GAIN):
                return None
    f = _solve_flow(source, target, affine, grid)
    with torch.no_grad():
        return f, float(_flow_cost(source, target, affine, f))


def _mismatch(a: GeometryFit, b: GeometryFit) -> float:
    """How far two fits' habits are apart, each habit in units of the width of its handwriting range (aspect and
    scale on a log scale), the proportions as their mean displacement apart in units of ``2 * FLOW``."""
    total = 0.0
    if a.flow is not None or b.flow is not None:
        grid = len((a.flow or b.flow)[0])  # type: ignore[index]
        total += float((a.flow_planes(grid) - b.flow_planes(grid)).abs().mean()) / (2 * FLOW)
    for name in PARAMS:
        lo, hi = HANDWRITING[name]
        x, y = float(getattr(a, name)), float(getattr(b, name))
        if name in ("aspect", "scale"):
            total += abs(math.log(x / y)) / math.log(hi / lo)
        else:
            total += abs(x - y) / (hi - lo)
    return total


def calibrate(fit: GeometryFit, write: Any, templates: torch.Tensor, strength: float = 1.0
              ) -> tuple[GeometryFit, dict[str, float]]:
    """The habits to give the templates so that what a generator *writes* from them has the writer's geometry.

    A generator does not follow a leaning, stretched template exactly: it keeps some of the template's shape, and its
    style branch may read a lean from the references of its own, so the measured habits come out as less or more
    than the writer's (dsfgan v2 leaned about 3 degrees too far on average). This writes the
    samples' own characters from the templates given ``fit`` (clamped into the range at ``strength``), measures what
    came out against the upright templates, and corrects the habits by the difference once; the correction is kept
    only when its written glyphs come closer to ``fit`` than before. Nothing but the writer's samples is used.

    :param fit: the habits measured on the writer's samples against ``templates`` (:func:`measure`).
    :param write: ``write(templates) -> glyphs``: the generator, templates ``[K, 1, H, W]`` in (uint8 or floats,
        ink high), glyphs of the same characters out (ink high, any range).
    :param templates: the upright templates of the samples' characters, as ``fit`` was measured on.
    :returns: the habits to give the templates (within ``strength``) and a report: the written glyphs' mismatch to
        ``fit`` before and after (:func:`_mismatch` units) and the slant written before and after.
    """
    given = fit.within(strength)
    # The proportions are measured on what was written only when the writer has them: a flow the generator adds of
    # its own is then corrected like the lean (a written glyph's flow must pass measure's held-out test too).
    grid = 0 if fit.flow is None else len(fit.flow[0])
    written = measure(templates, write(warp(templates, given.geometry(len(templates)), paper=0.0)), grid)
    before = _mismatch(written, fit)
    values = {}
    for name in PARAMS:
        value, got, want = (float(getattr(x, name)) for x in (given, written, fit))
        values[name] = value * want / got if name in ("aspect", "scale") else value + want - got
    flow = None if fit.flow is None else \
        (given.flow_planes(grid) + fit.flow_planes(grid) - written.flow_planes(grid)).tolist()
    corrected = GeometryFit(**values, residual=fit.residual, residual_identity=fit.residual_identity,
                            samples=fit.samples, flow=flow).within(strength)
    written_after = measure(templates, write(warp(templates, corrected.geometry(len(templates)), paper=0.0)),
                            grid)
    after = _mismatch(written_after, fit)
    report = {"mismatch_before": before, "mismatch_after": after, "written_slant_before": written.slant,
              "written_slant_after": written_after.slant}
    return (corrected if after < before else given), report


# Measuring a writer from their references: named, normalised samples (glyph.data.refs) against the standard face.
MIN_SAMPLES = 4  # fewer named samples say too little about a hand's habits to apply them to every character


def to_template_frame(refs: torch.Tensor) -> torch.Tensor:
    """References normalised with ``glyph.data.refs.MARGIN`` scaled about the centre into the templates' frame
    (``glyph.data.render.RenderSpec.margin``): the same glyph then covers the same share of both boxes.

    :param refs: uint8 ``[K, 1, H, W]`` (255 = ink); returns the same, the glyphs a few per cent larger.
    """
    from glyph.data.refs import MARGIN
    from glyph.data.render import RenderSpec

    scale = (1 - 2 * MARGIN) / (1 - 2 * RenderSpec.margin)  # < 1: sample a smaller window = enlarge
    theta = torch.tensor([[scale, 0.0, 0.0], [0.0, scale, 0.0]]).expand(refs.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(refs.shape), align_corners=False)
    out = F.grid_sample(refs.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


def named_pairs(refs: torch.Tensor, chars: list[str]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The references named after a character the template font has, each beside its template glyph.

    :param refs: uint8 ``[K, 1, 64, 64]`` (255 = ink), normalised references (``glyph.data.refs``), any order.
    :param chars: each reference's character ('' for an unnamed one: it cannot be compared, so it is left out).
    :returns: templates and samples (moved into the templates' frame, :func:`to_template_frame`), uint8
        ``[N, 1, 64, 64]`` each; None when fewer than ``MIN_SAMPLES`` are named after a character the font has.
    """
    import numpy as np

    from glyph.data.templates import template_glyphs

    if len(refs) != len(chars):
        raise ValueError(f"{len(refs)} references for {len(chars)} characters")
    found = template_glyphs([c for c in chars if c]).glyphs
    named = [i for i, c in enumerate(chars) if c in found]
    if len(named) < MIN_SAMPLES:
        return None
    templates = torch.from_numpy(np.stack([found[chars[i]] for i in named])).unsqueeze(1)
    return templates, to_template_frame(refs[named])


def measure_writer(refs: torch.Tensor, chars: list[str]) -> GeometryFit | None:
    """A writer's habits measured on their references named after a character, against the template font
    (:func:`named_pairs`, then :func:`measure`); None when fewer than ``MIN_SAMPLES`` are named."""
    pairs = named_pairs(refs, chars)
    return None if pairs is None else measure(*pairs)


def measure_folder(folder: str | Path) -> tuple[GeometryFit, list[tuple[str, str]]]:
    """``glyph data geometry``: a writer's habits measured on a folder of their samples named after a character.

    :returns: the fit and the files left out with why (unreadable, blank, not named after a character).
    :raises GlyphError: when fewer than ``MIN_SAMPLES`` samples are named after a character the template font has.
    """
    from glyph.data.refs import NAMING_HINT, load_references
    from glyph.errors import GlyphError

    ref_set = load_references(folder, size=64, require_names=False)
    skipped = list(ref_set.skipped)
    skipped += [(f, f"not named after a character ({NAMING_HINT}), so it cannot be compared with the template")
                for f, c in zip(ref_set.files, ref_set.chars, strict=True) if not c]
    refs = torch.from_numpy(ref_set.images).unsqueeze(1)
    fit = measure_writer(refs, [c or "" for c in ref_set.chars])
    if fit is None:
        raise GlyphError(f"measuring a hand needs at least {MIN_SAMPLES} samples named after their character "
                         f"({NAMING_HINT}); {folder} has {sum(1 for c in ref_set.chars if c)}")
    return fit, skipped
