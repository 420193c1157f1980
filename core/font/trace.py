"""Bitmap to outline tracing: glyph images become closed cubic Bézier contours.

1. The grey image is upsampled (bicubic) so the iso-line runs between pixels smoothly, then marching
   squares extracts closed contours at the ink threshold with sub-pixel (linearly interpolated) points;
   saddle cells are resolved by the cell's mean, so diagonal strokes stay joined.
2. Islands and holes smaller than ``min_area`` are dropped (specks of noise).
3. Corners are points where the turn over a small window is sharp and locally largest; each contour is
   cut at its corners and every piece is fitted with cubic Béziers by least squares (Schneider's
   algorithm: chord-length parameters, Newton re-parameterisation, split at the worst point until the
   error is below ``tolerance``). Smooth contours without corners are fitted as one closed piece.

Coordinates are image pixels of the *input* (x right, y down). Orientation is normalised by
:func:`orient`: outer contours one way, holes the other, decided by nesting depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Point = np.ndarray  # shape (2,)
Segment = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # cubic Bézier: p0, c1, c2, p3


@dataclass
class Contour:
    """A closed outline: cubic segments, each starting where the previous one ended."""

    segments: list[Segment]
    polygon: np.ndarray  # the dense points it was fitted to, [N, 2]

    @property
    def area(self) -> float:
        """Signed area of the polygon (shoelace; positive = counter-clockwise with y up)."""
        x, y = self.polygon[:, 0], self.polygon[:, 1]
        return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))

    def reversed(self) -> Contour:
        """The same outline run the other way."""
        segs = [(s[3], s[2], s[1], s[0]) for s in reversed(self.segments)]
        return Contour(segs, self.polygon[::-1].copy())


# ---------------------------------------------------------------------------------------------------------------
# Marching squares
# ---------------------------------------------------------------------------------------------------------------

# Corners of a cell: 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left (bit i set = corner i is inside).
# Edges: 0 top (0-1), 1 right (1-2), 2 bottom (3-2), 3 left (0-3). Each case lists the pairs of edges the
# iso-line joins inside the cell; loops are linked without direction and oriented later (see orient()).
_CASES: dict[int, list[tuple[int, int]]] = {
    1: [(3, 0)], 2: [(0, 1)], 3: [(3, 1)], 4: [(1, 2)], 6: [(0, 2)], 7: [(3, 2)], 8: [(2, 3)],
    9: [(2, 0)], 11: [(2, 1)], 12: [(1, 3)], 13: [(1, 0)], 14: [(0, 3)],
}
# Saddles (two opposite corners inside): joined one way when the cell's centre is inside, the other when not.
_SADDLE = {5: ([(3, 2), (1, 0)], [(3, 0), (1, 2)]), 10: ([(0, 1), (2, 3)], [(2, 1), (0, 3)])}


def _edge_point(img: np.ndarray, r: int, c: int, edge: int, level: float) -> tuple[float, float]:
    """Where the iso-line crosses ``edge`` of cell (r, c), as (x, y)."""
    a, b = {0: ((r, c), (r, c + 1)), 1: ((r, c + 1), (r + 1, c + 1)),
            2: ((r + 1, c), (r + 1, c + 1)), 3: ((r, c), (r + 1, c))}[edge]
    va, vb = img[a], img[b]
    t = 0.5 if va == vb else (level - va) / (vb - va)
    t = min(1.0, max(0.0, float(t)))
    return a[1] + t * (b[1] - a[1]), a[0] + t * (b[0] - a[0])


def iso_contours(img: np.ndarray, level: float = 0.5) -> list[np.ndarray]:
    """Closed contours of ``img >= level`` as point arrays ``[N, 2]`` (x, y), the image padded with 0 first."""
    img = np.pad(np.asarray(img, np.float64), 1)
    inside = img >= level
    code = (inside[:-1, :-1] * 1 + inside[:-1, 1:] * 2 + inside[1:, 1:] * 4 + inside[1:, :-1] * 8).astype(np.int8)
    links: dict[tuple, list[tuple]] = {}
    pts: dict[tuple, tuple[float, float]] = {}
    rows, cols = np.nonzero((code != 0) & (code != 15))
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        k = int(code[r, c])
        if k in _SADDLE:
            pairs = _SADDLE[k][0 if img[r:r + 2, c:c + 2].mean() >= level else 1]
        else:
            pairs = _CASES[k]
        for e1, e2 in pairs:
            k1, k2 = _edge_key(r, c, e1), _edge_key(r, c, e2)
            links.setdefault(k1, []).append(k2)
            links.setdefault(k2, []).append(k1)
            for key, e in ((k1, e1), (k2, e2)):
                if key not in pts:
                    pts[key] = _edge_point(img, r, c, e, level)
    loops = []
    seen: set[tuple] = set()
    for start in links:
        if start in seen:
            continue
        loop, prev, key = [], None, start
        while key not in seen:  # every crossing point has exactly two neighbours: walk on, never back
            seen.add(key)
            loop.append(pts[key])
            a, *rest = links[key]
            prev, key = key, (rest[0] if rest and a == prev else a) if prev is not None else a
        if len(loop) >= 3:
            loops.append(np.array(loop) - 1.0)  # undo the padding
    return loops


def _edge_key(r: int, c: int, edge: int) -> tuple:
    """A cell edge named so neighbouring cells agree: horizontal edges by their top row, vertical by column."""
    return {0: ("h", r, c), 2: ("h", r + 1, c), 3: ("v", r, c), 1: ("v", r, c + 1)}[edge]


# ---------------------------------------------------------------------------------------------------------------
# Bézier fitting (Schneider, "An algorithm for automatically fitting digitized curves", Graphics Gems 1990)
# ---------------------------------------------------------------------------------------------------------------


def _bezier(seg: Segment, t: np.ndarray) -> np.ndarray:
    p0, c1, c2, p3 = seg
    t = t[:, None]
    mt = 1 - t
    return mt**3 * p0 + 3 * mt**2 * t * c1 + 3 * mt * t**2 * c2 + t**3 * p3


def _d1(seg: Segment, t: np.ndarray) -> np.ndarray:
    p0, c1, c2, p3 = seg
    t = t[:, None]
    mt = 1 - t
    return 3 * mt**2 * (c1 - p0) + 6 * mt * t * (c2 - c1) + 3 * t**2 * (p3 - c2)


def _d2(seg: Segment, t: np.ndarray) -> np.ndarray:
    p0, c1, c2, p3 = seg
    t = t[:, None]
    return 6 * (1 - t) * (c2 - 2 * c1 + p0) + 6 * t * (p3 - 2 * c2 + c1)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.hypot(*v))
    return v / n if n > 1e-12 else v


def _chord_params(pts: np.ndarray) -> np.ndarray:
    d = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    return d / d[-1] if d[-1] > 0 else np.linspace(0, 1, len(pts))


def _fit_one(pts: np.ndarray, u: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> Segment:
    """Least-squares control points for fixed end points and end tangents ``t1`` (out of p0), ``t2`` (into p3)."""
    p0, p3 = pts[0], pts[-1]
    b0, b1, b2, b3 = (1 - u) ** 3, 3 * u * (1 - u) ** 2, 3 * u**2 * (1 - u), u**3
    a1, a2 = b1[:, None] * t1, b2[:, None] * t2
    c = np.array([[np.sum(a1 * a1), np.sum(a1 * a2)], [np.sum(a1 * a2), np.sum(a2 * a2)]])
    rest = pts - (b0 + b1)[:, None] * p0 - (b2 + b3)[:, None] * p3
    x = np.array([np.sum(a1 * rest), np.sum(a2 * rest)])
    det = c[0, 0] * c[1, 1] - c[0, 1] ** 2
    chord = float(np.hypot(*(p3 - p0)))
    if abs(det) > 1e-12:
        alpha1 = (x[0] * c[1, 1] - x[1] * c[0, 1]) / det
        alpha2 = (c[0, 0] * x[1] - c[0, 1] * x[0]) / det
    else:
        alpha1 = alpha2 = chord / 3
    if alpha1 < 1e-6 * chord or alpha2 < 1e-6 * chord:  # degenerate: the Wu/Barsky heuristic
        alpha1 = alpha2 = chord / 3
    return (p0, p0 + alpha1 * t1, p3 + alpha2 * t2, p3)


def _newton(seg: Segment, pts: np.ndarray, u: np.ndarray) -> np.ndarray:
    diff = _bezier(seg, u) - pts
    d1, d2 = _d1(seg, u), _d2(seg, u)
    num = np.sum(diff * d1, axis=1)
    den = np.sum(d1 * d1 + diff * d2, axis=1)
    step = np.where(np.abs(den) > 1e-12, num / np.where(den == 0, 1, den), 0.0)
    out = np.clip(u - step, 0, 1)
    out[0], out[-1] = 0.0, 1.0
    return np.maximum.accumulate(out)


def fit_cubic(pts: np.ndarray, tolerance: float, t1: np.ndarray | None = None, t2: np.ndarray | None = None,
              depth: int = 0) -> list[Segment]:
    """Cubic segments through the open polyline ``pts`` within ``tolerance`` (max distance, pixels)."""
    pts = np.asarray(pts, np.float64)
    if len(pts) < 2:
        return []
    if t1 is None:
        t1 = _unit(pts[min(2, len(pts) - 1)] - pts[0])
    if t2 is None:
        t2 = _unit(pts[max(-3, -len(pts))] - pts[-1])
    if len(pts) <= 3:
        chord = float(np.hypot(*(pts[-1] - pts[0]))) / 3
        return [(pts[0], pts[0] + chord * t1, pts[-1] + chord * t2, pts[-1])]
    u = _chord_params(pts)
    seg = _fit_one(pts, u, t1, t2)
    for _ in range(4):
        err = np.hypot(*(_bezier(seg, u) - pts).T)
        if err.max() <= tolerance:
            return [seg]
        u = _newton(seg, pts, u)
        seg = _fit_one(pts, u, t1, t2)
    err = np.hypot(*(_bezier(seg, u) - pts).T)
    if err.max() <= tolerance or depth > 12:
        return [seg]
    split = int(np.clip(np.argmax(err[1:-1]) + 1, 1, len(pts) - 2))
    centre = _unit(pts[split - 1] - pts[split + 1])
    return (fit_cubic(pts[:split + 1], tolerance, t1, centre, depth + 1)
            + fit_cubic(pts[split:], tolerance, -centre, t2, depth + 1))


# ---------------------------------------------------------------------------------------------------------------
# Corners and contours
# ---------------------------------------------------------------------------------------------------------------


def _resample(loop: np.ndarray, spacing: float) -> np.ndarray:
    """Points evenly spaced along the closed polyline (marching squares spacing is uneven)."""
    closed = np.vstack([loop, loop[:1]])
    d = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(closed, axis=0).T))])
    n = max(8, int(d[-1] / spacing))
    s = np.linspace(0, d[-1], n, endpoint=False)
    return np.stack([np.interp(s, d, closed[:, 0]), np.interp(s, d, closed[:, 1])], 1)


def corners(loop: np.ndarray, window: int = 3, angle: float = 50.0) -> list[int]:
    """Indices where the outline turns by more than ``angle`` degrees over ``window`` points each side, keeping
    the sharpest point of each run."""
    n = len(loop)
    if n < 2 * window + 2:
        return []
    a = np.roll(loop, window, axis=0) - loop
    b = np.roll(loop, -window, axis=0) - loop
    cos = np.sum(a * b, 1) / np.maximum(np.hypot(*a.T) * np.hypot(*b.T), 1e-12)
    turn = 180.0 - np.degrees(np.arccos(np.clip(cos, -1, 1)))  # 0 = straight on
    sharp = turn > angle
    out = []
    for i in np.nonzero(sharp)[0].tolist():
        lo, hi = i - window, i + window + 1
        nbr = turn[np.arange(lo, hi) % n]
        if turn[i] >= nbr.max() and not any(abs(i - j) <= window or n - abs(i - j) <= window for j in out):
            out.append(i)
    return sorted(out)


def _smooth(loop: np.ndarray, passes: int) -> np.ndarray:
    """Binomial [1, 2, 1] smoothing around the closed polyline: removes the pixel staircase, keeps the shape."""
    for _ in range(passes):
        loop = 0.25 * np.roll(loop, 1, axis=0) + 0.5 * loop + 0.25 * np.roll(loop, -1, axis=0)
    return loop


def fit_contour(loop: np.ndarray, tolerance: float, corner_angle: float = 50.0, spacing: float = 0.5) -> Contour:
    """Cubic segments for one closed polyline, split at its corners."""
    pts = _resample(loop, spacing)
    found = corners(pts, window=max(2, round(1.5 / spacing)), angle=corner_angle)
    smooth = _smooth(pts, 2)
    smooth[found] = pts[found]  # corners stay sharp
    pts = smooth
    cut = found
    if not cut:  # smooth all round: start anywhere, fit the loop as one open piece
        cut = [0]
    segments: list[Segment] = []
    for k, start in enumerate(cut):
        end = cut[(k + 1) % len(cut)]
        if end <= start:
            piece = np.vstack([pts[start:], pts[:end + 1]])
        else:
            piece = pts[start:end + 1]
        if len(cut) == 1:
            piece = np.vstack([pts[start:], pts[:start + 1]])
        segments += fit_cubic(piece, tolerance)
    return Contour(segments, pts)


def trace(image: np.ndarray, level: float = 0.5, upsample: int = 4, min_area: float = 2.0, tolerance: float = 0.25,
          corner_angle: float = 50.0) -> list[Contour]:
    """Closed outlines of the ink in ``image`` (floats, 1 = ink), in the input's pixel coordinates.

    :param upsample: trace on a bicubic enlargement (smoother curves between the pixels).
    :param min_area: drop islands and holes smaller than this many input pixels.
    :param tolerance: the largest distance, in input pixels, between the curves and the traced outline.
    :param corner_angle: turns sharper than this (degrees) stay corners; gentler ones become curves.
    """
    from PIL import Image

    a = np.clip(np.asarray(image, np.float32), 0, 1)
    if a.ndim != 2:
        raise ValueError(f"trace takes a 2-D image, got shape {a.shape}")
    if upsample > 1:
        im = Image.fromarray(a, mode="F").resize((a.shape[1] * upsample, a.shape[0] * upsample),
                                                 Image.Resampling.BICUBIC)
        big = np.asarray(im, np.float32)
    else:
        big = a
    out = []
    for loop in iso_contours(big, level):
        pts = (loop + 0.5) / upsample - 0.5 if upsample > 1 else loop
        c = Contour([], pts)
        if abs(c.area) < min_area:
            continue
        out.append(fit_contour(pts, tolerance, corner_angle))
    return out


def _inside(point: np.ndarray, poly: np.ndarray) -> bool:
    x, y = point
    xs, ys = poly[:, 0], poly[:, 1]
    xs2, ys2 = np.roll(xs, -1), np.roll(ys, -1)
    cross = (ys > y) != (ys2 > y)
    xint = xs + (y - ys) * (xs2 - xs) / np.where(ys2 == ys, 1, ys2 - ys)
    return bool(np.count_nonzero(cross & (x < xint)) % 2)


def orient(contours: list[Contour], outer_positive: bool = True) -> list[Contour]:
    """Outer contours (even nesting depth) with positive signed area, holes negative (or the reverse)."""
    out = []
    for i, c in enumerate(contours):
        probe = c.polygon[0]
        depth = sum(_inside(probe, o.polygon) for j, o in enumerate(contours) if j != i)
        want_positive = (depth % 2 == 0) == outer_positive
        out.append(c if (c.area > 0) == want_positive else c.reversed())
    return out
