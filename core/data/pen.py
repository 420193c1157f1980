"""The pen-writer model: a writer's pen and hand, and how one character is drawn by many writers at once.

A writer is a seeded draw of a **pen** (monoline ballpoint, felt tip, grainy light pencil, or a brush
whose width follows pressure: a press where it lands, tapered falling strokes, thin horizontals) and
a **hand** (slant, aspect, rotation, component proportions and spacing, stroke-length and bow habits
per stroke kind, rising horizontals, low-frequency wobble, tremor, and for running hands rounder
corners and ligatures between consecutive strokes). Each glyph adds small noise around the writer's
habits, so a writer is consistent across characters while writers differ.

Drawing works on the stroke centre lines of strokes.py. The geometry of one character is computed
for a batch of writers in one set of numpy operations (per-glyph Python overhead is what limits the
speed), then each glyph is drawn as one polygon per smooth stroke piece plus round joins and caps on
a supersampled PIL canvas, box-fitted as render.py fits font glyphs: the ink box's long side fills
the canvas less the margins, centred. A glyph's random numbers come from its own generator, so a
glyph does not depend on which other writers or characters are drawn with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from PIL import Image, ImageDraw

from .render import RenderSpec
from .strokes import DOT, HORIZONTAL, LEFT_FALLING, RIGHT_FALLING, RISING, VERTICAL, Skeleton

PENS = ("ballpoint", "felt", "pencil", "brush")
PEN_ODDS = (0.35, 0.25, 0.15, 0.25)
# Pen half-width ranges in units of the 1024 box (a text font's stroke has a half-width of ~0.035).
HALF_WIDTH = {"ballpoint": (0.010, 0.018), "felt": (0.017, 0.028), "pencil": (0.010, 0.016),
              "brush": (0.022, 0.040)}
WRITER_TAG, GLYPH_TAG = 0x57, 0x47  # keep the writer's and the glyph's random streams apart
LINK_POINTS = 7  # points along a ligature
CAP_POINTS = 4  # points on the half circle of a round stroke end


@dataclass(frozen=True)
class Writer:
    """One synthetic writer's pen and hand (lengths in units of the 1024 box)."""

    name: str
    pen: str
    width: float  # pen half-width
    ink: float  # darkness of full ink, 0..1
    grain: float  # pencil: paper tooth, 0..1
    press: float  # brush: extra width where the brush lands
    taper: float  # how thin falling and rising strokes end (0: not at all, 1: to a point)
    thin_horizontal: float  # brush: horizontals thinner than verticals
    pressure: float  # stroke-to-stroke width variation
    slant: float  # shear: the top moves right by slant x height
    rotation: float  # radians
    aspect: float  # width / height
    warp_x: float  # proportions: >0 widens left components, <0 right ones
    warp_y: float  # >0 taller upper components
    spread: float  # >0 strokes set apart (airy), <0 crowded
    rise: float  # horizontals turn by this angle (radians; negative: up to the right)
    lengths: tuple[float, ...]  # stroke length factor per stroke kind (strokes.KIND_NAMES)
    bends: tuple[float, ...]  # bow per stroke kind, as a fraction of the stroke's chord
    wobble: float  # low-frequency displacement of the whole glyph
    tremor: float  # displacement along each stroke
    rounds: int  # corner rounding (1 careful, 2-3 running)
    ligature: float  # chance that consecutive strokes are joined by a thin line
    noise: float  # per-glyph deviation from the habits


def sample_writer(seed: int, index: int) -> Writer:
    """Writer ``index`` of ``seed``: the same arguments always give the same writer."""
    g = np.random.default_rng([seed, index, WRITER_TAG])
    pen = PENS[int(g.choice(len(PENS), p=PEN_ODDS))]
    lo, hi = HALF_WIDTH[pen]
    cursive = float(g.beta(1.3, 2.6))  # 0: a careful block hand .. 1: a running hand

    def n(s: float, m: float = 0.0) -> float:
        return float(g.normal(m, s))

    return Writer(
        name=f"synth-s{seed}-{index:04d}", pen=pen, width=float(g.uniform(lo, hi)),
        ink={"pencil": float(g.uniform(0.5, 0.75)), "ballpoint": float(g.uniform(0.8, 1.0))}.get(pen, 1.0),
        grain=float(g.uniform(0.3, 0.6)) if pen == "pencil" else 0.0,
        press=float(g.uniform(0.15, 0.5)) if pen == "brush" else 0.0,
        taper=float(g.uniform(0.5, 0.9)) if pen == "brush" else float(g.uniform(0.0, 0.25)),
        thin_horizontal=float(g.uniform(0.15, 0.4)) if pen == "brush" else 0.0,
        pressure=float(g.uniform(0.03, 0.12)),
        slant=float(np.clip(n(0.12, 0.05 + 0.1 * cursive), -0.2, 0.4)), rotation=n(0.03),
        aspect=float(np.exp(n(0.12))), warp_x=n(0.3), warp_y=n(0.3), spread=n(0.08), rise=n(0.04, -0.05),
        lengths=tuple(float(np.exp(v)) for v in (n(0.25), n(0.10, 0.03), n(0.10), n(0.10), n(0.10), n(0.1))),
        bends=tuple(n(s) for s in (0.05, 0.04, 0.03, 0.06, 0.06, 0.04)),
        wobble=abs(n(0.006)) + 0.002 + 0.008 * cursive, tremor=abs(n(0.002)) + 0.002 * cursive,
        rounds=1 + int(cursive > 0.4) + int(cursive > 0.7), ligature=max(0.0, cursive - 0.35) * 1.1,
        noise=float(g.uniform(0.4, 0.9) + 0.4 * cursive),
    )


def point_step(spec: RenderSpec) -> float:
    """Spacing of the points along a stroke (units of the box): ~2 output pixels, smooth at any size and
    no more points than needed (the polygon fill's cost grows with them)."""
    return 3.0 / spec.inner


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (Steele, Lea & Flood 2014): a bijective scramble of uint64 values."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def glyph_keys(seed: int, writers: list[int], ch: str) -> np.ndarray:
    """One uint64 key per glyph (writer of ``seed`` writing ``ch``): the glyph's random numbers follow from it.

    Counter-based (a hash of key and position) rather than one generator object per glyph: a batch of
    glyphs draws its numbers in a few array operations, and a glyph never depends on its batch.
    """
    gold = np.uint64(0x9E3779B97F4A7C15)
    x = _mix(np.full(len(writers), seed % 2 ** 64, np.uint64) + gold)
    x = _mix((x ^ np.asarray(writers, np.uint64)) + gold)
    return _mix((x ^ np.uint64(ord(ch))) + gold)


def uniforms(keys: np.ndarray, n: int, lane: int) -> np.ndarray:
    """``[len(keys), n]`` uniforms in (0, 1) for stream ``lane`` of each key."""
    x = keys[:, None] * np.uint64(0xD1B54A32D192ED03) + np.uint64(lane << 40) + np.arange(n, dtype=np.uint64)
    x = _mix(x + np.uint64(0x9E3779B97F4A7C15))  # uint64 arrays wrap around silently, as hashing wants
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


def normals(keys: np.ndarray, n: int, lane: int) -> np.ndarray:
    """``[len(keys), n]`` standard normals (Box-Muller) for stream ``lane`` of each key."""
    u = uniforms(keys, 2 * n, lane)
    return np.sqrt(-2.0 * np.log(u[:, :n])) * np.cos(2 * np.pi * u[:, n:])


def _col(ws: list[Writer], name: str) -> np.ndarray:
    return np.array([getattr(w, name) for w in ws], dtype=np.float64)


def _hand(ws: list[Writer], sk: Skeleton, points: np.ndarray, z: np.ndarray,
          u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``[W, M + links, 2]``: each writer's skeleton ``points [W, M, 2]`` moved by the writer's hand,
    then the candidate ligatures; and which ligatures are drawn ``[W, k - 1]``."""
    k, kinds, starts, sid, t = len(sk.kinds), sk.kinds, sk.starts, sk.stroke, sk.t
    nz = _col(ws, "noise")[:, None]
    zs, zg = z[:, :6 * k].reshape(-1, 6, k), z[:, 6 * k:6 * k + 8]
    centre = np.add.reduceat(points, starts[:-1], axis=1) / np.diff(starts)[:, None]
    # Per stroke: the length habit of its kind, rising horizontals, a bow, placement; each with glyph noise.
    scale = np.array([w.lengths for w in ws])[:, kinds] * np.exp(0.05 * nz * zs[:, 0])
    angle = np.where(kinds == HORIZONTAL, _col(ws, "rise")[:, None], 0.0) + 0.03 * nz * zs[:, 1]
    bend = np.array([w.bends for w in ws])[:, kinds] + 0.02 * nz * zs[:, 2]
    spread = (_col(ws, "spread") + 0.02 * nz[:, 0] * zg[:, 0])[:, None, None]
    shift = 0.008 * nz[:, :, None] * zs[:, 3:5].transpose(0, 2, 1) + (centre - 0.5) * spread
    cos, sin = (np.cos(angle) * scale)[:, sid], (np.sin(angle) * scale)[:, sid]
    d = points - centre[:, sid]
    p = centre[:, sid] + shift[:, sid]
    p[..., 0] += cos * d[..., 0] - sin * d[..., 1]
    p[..., 1] += sin * d[..., 0] + cos * d[..., 1]
    chord = p[:, starts[1:] - 1] - p[:, starts[:-1]]
    normal = np.stack([-chord[..., 1], chord[..., 0]], -1)  # as long as the chord: the bow scales with it
    p += normal[:, sid] * (bend[:, sid] * np.sin(np.pi * t))[..., None]
    # Tremor along each stroke; a slow wobble of the whole glyph.
    ph = 2 * np.pi * u[:, :2 * k].reshape(-1, k, 2)
    freq = 1.0 + 1.5 * u[:, None, 2 * k:2 * k + 2]
    p += _col(ws, "tremor")[:, None, None] * np.sin(2 * np.pi * freq * t[:, None] + ph[:, sid])
    uf = u[:, 3 * k + 2:3 * k + 8]
    waves = np.einsum("wmi,wij->wmj", p, 0.5 + 0.7 * uf[:, :4].reshape(-1, 2, 2))
    p += _col(ws, "wobble")[:, None, None] * np.sin(2 * np.pi * (waves + uf[:, None, 4:6]))
    # Proportions (monotone quadratic warps), then aspect, slant and rotation about the centre.
    warp = np.clip(np.stack([_col(ws, "warp_x"), _col(ws, "warp_y")], 1) + 0.06 * nz * zg[:, 1:3], -0.8, 0.8)
    p += warp[:, None] * p * (1 - p)
    p -= 0.5
    p[..., 0] *= (_col(ws, "aspect") * np.exp(0.04 * nz[:, 0] * zg[:, 3]))[:, None]
    p[..., 0] -= (_col(ws, "slant") + 0.025 * nz[:, 0] * zg[:, 4])[:, None] * p[..., 1]
    r = _col(ws, "rotation") + 0.015 * nz[:, 0] * zg[:, 5]
    c, s = np.cos(r)[:, None], np.sin(r)[:, None]
    p = np.stack([c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1]], -1)
    # Running hands join a stroke's end to the next stroke's start when the pen has not far to travel:
    # a quadratic curve leaving in the direction the stroke ended.
    a, b = p[:, starts[1:-1] - 1], p[:, starts[1:-1]]
    gap = np.hypot(*(b - a).transpose(2, 0, 1))
    tangent = a - p[:, starts[1:-1] - 2]
    ctrl = a + tangent * (0.35 * gap / (np.hypot(*tangent.transpose(2, 0, 1)) + 1e-9))[..., None]
    v = np.linspace(0.0, 1.0, LINK_POINTS)[:, None]
    links = ((1 - v) ** 2 * a[:, :, None] + 2 * (1 - v) * v * ctrl[:, :, None] + v ** 2 * b[:, :, None])
    drawn = (u[:, 2 * k + 2:3 * k + 1] < _col(ws, "ligature")[:, None]) & (gap > 0.03) & (gap < 0.4)
    return np.concatenate([p, links.reshape(len(ws), -1, 2)], 1), drawn


def _widths(ws: list[Writer], kind: np.ndarray, t: np.ndarray, tangent: np.ndarray,
            zp: np.ndarray) -> np.ndarray:
    """Half-widths ``[W, M]``: the pen's profile along each stroke (``kind`` -1 marks ligature points)."""
    r = _col(ws, "width")[:, None] * np.exp(_col(ws, "pressure")[:, None] * zp)
    ends = np.clip((t - 0.55) / 0.45, 0.0, 1.0)
    taper = _col(ws, "taper")[:, None] * (ends * ends * (3 - 2 * ends))  # smoothstep to the stroke's end
    falling = (kind == LEFT_FALLING) | (kind == RISING)
    brush = np.array([w.pen == "brush" for w in ws])[:, None]
    # Where a brush lands it spreads; horizontals are drawn with the tip, verticals with the belly; a
    # right-falling stroke swells before it leaves the paper; a dot grows from its tip.
    flare = (1 + 0.45 * np.exp(-(((t - 0.78) / 0.12) ** 2))) * (1 - 2 * np.clip(ends - 0.6, 0, 0.4))
    shape = np.select([falling, kind == RIGHT_FALLING, kind == VERTICAL, kind == DOT],
                      [1 - taper, flare, 1 - 0.4 * taper, 0.6 + 0.6 * t], 1.0)
    lands = (1 + _col(ws, "press")[:, None] * np.exp(-t / 0.08)) * (1 - _col(ws, "thin_horizontal")[:, None]
                                                                    * tangent[..., 0] ** 2)
    r = r * np.where(brush, lands * shape, np.where(falling, 1 - taper, 1.0))
    thin = np.array([0.45 if w.pen in ("brush", "felt") else 0.75 for w in ws])[:, None]
    return np.where(kind < 0, r * thin, r)


def draw_batch(ws: list[Writer], skeletons: dict[int, Skeleton], spec: RenderSpec, keys: np.ndarray) -> np.ndarray:
    """One character by every writer in ``ws``: uint8 ``[W, size, size]``, 255 = ink.

    ``skeletons`` maps corner rounding (``Writer.rounds``) to the character's skeleton with that rounding
    (all with the same points per stroke, see strokes.skeleton); ``keys`` are the glyphs' random keys
    (:func:`glyph_keys`).
    """
    sk = next(iter(skeletons.values()))
    k, m = len(sk.kinds), len(sk.t)
    z, u = normals(keys, 8 * k + 7, 0), uniforms(keys, 3 * k + 8, 1)
    p, drawn = _hand(ws, sk, np.stack([skeletons[w.rounds].points for w in ws]), z, u)
    # The ligatures are strokes k .. 2k-2 after the skeleton's own, LINK_POINTS points each.
    starts = np.concatenate([sk.starts, m + LINK_POINTS * np.arange(1, k)])
    sid = np.concatenate([sk.stroke, np.repeat(np.arange(k, 2 * k - 1), LINK_POINTS)])
    t = np.concatenate([sk.t, np.tile(np.linspace(0.0, 1.0, LINK_POINTS), k - 1)])
    kind = np.concatenate([sk.kinds, np.full(k - 1, -1)])[sid]
    # Tangents from the neighbours within each stroke; the turn at each point decides where to split.
    fwd, bwd = np.zeros_like(p), np.zeros_like(p)
    fwd[:, :-1] = bwd[:, 1:] = p[:, 1:] - p[:, :-1]
    fwd[:, starts[1:] - 1] = 0.0
    bwd[:, starts[:-1]] = 0.0
    tan = fwd + bwd
    tan /= np.hypot(tan[..., 0], tan[..., 1])[..., None] + 1e-12
    r = _widths(ws, kind, t, tan, z[:, 6 * k + 8:][:, sid])
    # Box fit over the ink that is drawn (render.py's fit="box"); unused ligatures do not count.
    used = np.concatenate([np.ones((len(ws), m), bool), np.repeat(drawn, LINK_POINTS, 1)], 1)
    lo = np.where(used[..., None], p - r[..., None], np.inf).min(1)
    hi = np.where(used[..., None], p + r[..., None], -np.inf).max(1)
    ss = 2  # supersampling, then a box filter: anti-aliased edges
    canvas = spec.size * ss
    scale = spec.inner * ss / np.maximum((hi - lo).max(1), 1e-6)
    q = (p - lo[:, None]) * scale[:, None, None] + (canvas - (hi - lo) * scale[:, None])[:, None] / 2
    q[..., 0] += canvas * np.arange(len(ws))[:, None]  # each glyph in its own cell of a shared canvas
    rad = np.maximum(r * scale[:, None], 0.45 * ss)  # never thinner than about half an output pixel
    nf, nb = np.hypot(fwd[..., 0], fwd[..., 1]), np.hypot(bwd[..., 0], bwd[..., 1])
    turn = np.arccos(np.clip((fwd * bwd).sum(-1) / (nf * nb + 1e-12), -1.0, 1.0))
    # An offset outline folds over itself (and PIL fills even-odd) where the turn radius is below the
    # pen's radius: cut the stroke there and let a round join cover the corner.
    cut = (turn * rad > 0.5 * np.minimum(nf, nb) * scale[:, None]) & (nf * nb > 0)
    normal = np.stack([-tan[..., 1], tan[..., 0]], -1) * rad[..., None]
    # Round caps belong to each stroke's outline (half circles behind its start and ahead of its end), so a
    # stroke is one polygon: left side, end cap, right side backwards, start cap.
    heading = np.arctan2(tan[..., 1], tan[..., 0])
    arc = np.pi / 2 - np.pi * np.arange(1, CAP_POINTS + 1) / (CAP_POINTS + 1)
    ang = np.stack([heading[:, starts[:-1]] - np.pi, heading[:, starts[1:] - 1]], 1)[..., None] + arc
    ends = np.stack([starts[:-1], starts[1:] - 1])
    caps = q[:, ends][..., None, :] + rad[:, ends][..., None, None] * np.stack([np.cos(ang), np.sin(ang)], -1)
    n_pts, n_caps = p.shape[1], (len(starts) - 1) * CAP_POINTS
    flat = np.concatenate([q + normal, q - normal, caps.reshape(len(ws), 2 * n_caps, 2)], 1)
    # All glyphs of the batch side by side on one canvas: one image, one reduction, one copy out.
    im = Image.new("L", (canvas * len(ws), canvas), 0)
    draw = ImageDraw.Draw(im)
    show = np.concatenate([np.ones((len(ws), k), bool), drawn], 1)
    has_cut = np.add.reduceat(cut, starts[:-1], axis=1) > 0
    caps_at = np.arange(CAP_POINTS)
    for n, (a, b) in enumerate(pairwise(starts.tolist())):
        # The outline's indices are the same for every writer: gather all writers' polygons at once.
        outline = np.concatenate([np.arange(a, b), 2 * n_pts + n_caps + n * CAP_POINTS + caps_at,
                                  n_pts + np.arange(b - 1, a - 1, -1), 2 * n_pts + n * CAP_POINTS + caps_at])
        polygons = flat[:, outline].reshape(len(ws), -1).tolist()
        for i in np.flatnonzero(show[:, n] & ~has_cut[:, n]).tolist():
            draw.polygon(polygons[i], fill=255)
        for i in np.flatnonzero(show[:, n] & has_cut[:, n]).tolist():
            # Cut at sharp turns into pieces, with a round join over each cut.
            marks = [a, *(np.flatnonzero(cut[i, a + 1:b - 1]) + a + 1).tolist(), b - 1]
            left, right = flat[i, :n_pts].tolist(), flat[i, n_pts:2 * n_pts].tolist()
            head = flat[i, 2 * n_pts + n * CAP_POINTS + caps_at].tolist()
            tail = flat[i, 2 * n_pts + n_caps + n * CAP_POINTS + caps_at].tolist()
            for j0, j1 in pairwise(marks):
                piece = left[j0:j1 + 1] + (tail if j1 == b - 1 else []) + right[j1:j0 - 1 if j0 else None:-1]
                draw.polygon(piece + head if j0 == a else piece, fill=255)
            for j in marks[1:-1]:
                (x, y), rr = q[i, j].tolist(), float(rad[i, j])
                draw.ellipse((x - rr, y - rr, x + rr, y + rr), fill=255)
    ink = np.frombuffer(im.reduce(ss).tobytes(), np.uint8).reshape(spec.size, len(ws), spec.size).transpose(1, 0, 2)
    out = ink.copy()  # frombuffer is read-only
    faint = np.flatnonzero([w.ink < 1.0 or w.pen == "pencil" for w in ws])
    if len(faint):
        tone = np.broadcast_to(_col(ws, "ink")[faint, None, None], (len(faint), *ink.shape[1:])).astype(np.float32)
        pencil = np.flatnonzero([ws[i].pen == "pencil" for i in faint])
        if len(pencil):  # graphite on paper tooth: lighter and grainy
            tooth = uniforms(keys[faint[pencil]], spec.size * spec.size, 2).reshape(-1, spec.size, spec.size)
            tone[pencil] *= 1.0 - _col(ws, "grain")[faint[pencil], None, None] * tooth
        out[faint] = ink[faint] * tone
    return out
