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

FIT_ROUNDS = 5  # least-squares fits per round of fit_pieces (Newton steps in between)
SMOOTH_PASSES = 3  # binomial smoothing passes over a traced outline

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


def _pair_table() -> np.ndarray:
    """``[code, saddle variant, pair, 2]`` edge indices (-1 = no second pair), for a vectorised lookup."""
    table = np.full((16, 2, 2, 2), -1, np.int64)
    for code in range(16):
        variants = _SADDLE.get(code, (_CASES.get(code, []),) * 2)
        for v, pairs in enumerate(variants):
            for k, pair in enumerate(pairs):
                table[code, v, k] = pair
    return table


_PAIRS = _pair_table()


def iso_contours(img: np.ndarray, level: float = 0.5) -> list[np.ndarray]:
    """Closed contours of ``img >= level`` as point arrays ``[N, 2]`` (x, y), the image padded with 0 first.

    Vectorised marching squares: every crossed cell edge gets one point (linear interpolation) and an id,
    each cell joins its crossed edges in pairs by table lookup, and the loops are walked on the resulting
    two-neighbour graph; only that walk is a Python loop (a few thousand integer steps a glyph).
    """
    img = np.pad(np.asarray(img, np.float64), 1)
    inside = img >= level
    hx = inside[:, :-1] != inside[:, 1:]  # edge between (r, c) and (r, c + 1) is crossed
    vx = inside[:-1, :] != inside[1:, :]  # edge between (r, c) and (r + 1, c)
    nh, nv = int(hx.sum()), int(vx.sum())
    if nh + nv == 0:
        return []
    hid = np.full(hx.shape, -1, np.int64)
    hid[hx] = np.arange(nh)
    vid = np.full(vx.shape, -1, np.int64)
    vid[vx] = nh + np.arange(nv)
    r, c = np.nonzero(hx)
    va, vb = img[r, c], img[r, c + 1]
    t = np.clip((level - va) / np.where(va == vb, 1, vb - va), 0, 1)
    hpts = np.stack([c + t, r.astype(np.float64)], 1)
    r, c = np.nonzero(vx)
    va, vb = img[r, c], img[r + 1, c]
    t = np.clip((level - va) / np.where(va == vb, 1, vb - va), 0, 1)
    pts = np.vstack([hpts, np.stack([c.astype(np.float64), r + t], 1)])
    code = inside[:-1, :-1] * 1 + inside[:-1, 1:] * 2 + inside[1:, 1:] * 4 + inside[1:, :-1] * 8
    r, c = np.nonzero((code != 0) & (code != 15))
    k = code[r, c]
    centre = (img[r, c] + img[r, c + 1] + img[r + 1, c] + img[r + 1, c + 1]) / 4
    pairs = _PAIRS[k, (centre < level).astype(np.int64)]  # [n, 2 pairs, 2 edges]
    edges = np.stack([hid[r, c], vid[r, c + 1], hid[r + 1, c], vid[r, c]], 1)  # top, right, bottom, left
    rows = np.arange(len(k))
    a, b = edges[rows, pairs[:, 0, 0]], edges[rows, pairs[:, 0, 1]]
    two = pairs[:, 1, 0] >= 0
    a = np.concatenate([a, edges[rows[two], pairs[two, 1, 0]]])
    b = np.concatenate([b, edges[rows[two], pairs[two, 1, 1]]])
    ids, other = np.concatenate([a, b]), np.concatenate([b, a])
    nbr = other[np.argsort(ids, kind="stable")].reshape(-1, 2)  # each crossing point has exactly two neighbours
    first, second = nbr[:, 0].tolist(), nbr[:, 1].tolist()
    seen = bytearray(len(first))
    loops = []
    for start in range(len(first)):
        if seen[start]:
            continue
        loop, prev, key = [start], start, first[start]
        seen[start] = 1
        while key != start and not seen[key]:  # walk on, never back
            loop.append(key)
            seen[key] = 1
            prev, key = key, (second[key] if first[key] == prev else first[key])
        if len(loop) >= 3:
            loops.append(pts[loop] - 1.0)  # undo the padding
    return loops


# ---------------------------------------------------------------------------------------------------------------
# Bézier fitting (Schneider, "An algorithm for automatically fitting digitized curves", Graphics Gems 1990)
# ---------------------------------------------------------------------------------------------------------------


# Each step is a handful of matrix products on the Bernstein bases, so that fitting costs microseconds a segment.


def _basis(u: np.ndarray) -> np.ndarray:
    """Cubic Bernstein basis ``[n, 4]`` at parameters ``u``."""
    mt = 1 - u
    return np.stack([mt**3, 3 * u * mt**2, 3 * u**2 * mt, u**3], 1)


def _ctrl(seg: Segment) -> np.ndarray:
    return np.array(seg)


def _fit_one(pts: np.ndarray, basis: np.ndarray, t1: np.ndarray, t2: np.ndarray) -> Segment:
    """Least-squares control points for fixed end points and end tangents ``t1`` (out of p0), ``t2`` (into p3)."""
    p0, p3 = pts[0], pts[-1]
    b0, b1, b2, b3 = basis.T
    c00, c11, c01 = float(b1 @ b1), float(b2 @ b2), float(b1 @ b2) * float(t1 @ t2)
    rest = pts - np.outer(b0 + b1, p0) - np.outer(b2 + b3, p3)
    x0, x1 = float(b1 @ (rest @ t1)), float(b2 @ (rest @ t2))
    det = c00 * c11 - c01 * c01
    chord = float(np.hypot(*(p3 - p0)))
    if abs(det) > 1e-12:
        alpha1, alpha2 = (x0 * c11 - x1 * c01) / det, (c00 * x1 - c01 * x0) / det
    else:
        alpha1 = alpha2 = chord / 3
    if alpha1 < 1e-6 * chord or alpha2 < 1e-6 * chord:  # degenerate: the Wu/Barsky heuristic
        alpha1 = alpha2 = chord / 3
    return (p0, p0 + alpha1 * t1, p3 + alpha2 * t2, p3)


def _newton(ctrl: np.ndarray, pts: np.ndarray, u: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """One Newton-Raphson step of every parameter towards its point's nearest place on the curve."""
    mt = 1 - u
    diff = basis @ ctrl - pts
    d1 = np.stack([mt * mt, 2 * mt * u, u * u], 1) @ (3 * np.diff(ctrl, axis=0))
    d2 = np.stack([mt, u], 1) @ (6 * np.diff(ctrl, 2, axis=0))
    num = (diff * d1).sum(1)
    den = (d1 * d1 + diff * d2).sum(1)
    out = np.clip(u - num / np.where(np.abs(den) > 1e-12, den, np.inf), 0, 1)
    out[0], out[-1] = 0.0, 1.0
    return np.maximum.accumulate(out)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.hypot(*v))
    return v / n if n > 1e-12 else v


def _chord_params(pts: np.ndarray) -> np.ndarray:
    d = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    return d / d[-1] if d[-1] > 0 else np.linspace(0, 1, len(pts))


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
    tol2 = tolerance * tolerance
    u = _chord_params(pts)
    basis = _basis(u)
    seg = _fit_one(pts, basis, t1, t2)
    for attempt in range(5):
        ctrl = _ctrl(seg)
        err = ((basis @ ctrl - pts) ** 2).sum(1)
        if err.max() <= tol2 or attempt == 4:
            break
        u = _newton(ctrl, pts, u, basis)
        basis = _basis(u)
        seg = _fit_one(pts, basis, t1, t2)
    if err.max() <= tol2 or depth > 12:
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
    # Local maxima of the turn over the window, sharper than ``angle``; of two within a window the first wins.
    peak = np.max(np.stack([np.roll(turn, k) for k in range(-window, window + 1)]), axis=0)
    out: list[int] = []
    for i in np.nonzero((turn > angle) & (turn >= peak))[0].tolist():
        if not out or (i - out[-1] > window and n - (i - out[0]) > window):
            out.append(i)
    return out


def _smooth(loop: np.ndarray, passes: int) -> np.ndarray:
    """Binomial [1, 2, 1] smoothing around the closed polyline: removes the pixel staircase, keeps the shape."""
    for _ in range(passes):
        loop = 0.25 * np.roll(loop, 1, axis=0) + 0.5 * loop + 0.25 * np.roll(loop, -1, axis=0)
    return loop


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start, start + length)`` for every pair, without a Python loop."""
    total = int(lengths.sum())
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return offsets + np.arange(total)


def fit_pieces(pieces: list[np.ndarray], tolerance: float, max_depth: int = 12,
               closed: list[bool] | None = None) -> list[list[Segment]]:
    """:func:`fit_cubic` for many open polylines at once: the same least squares, Newton steps and splits, but
    every round fits all unfinished pieces together with segment sums (``np.bincount``), so a glyph costs a few
    hundred array operations instead of a few thousand small ones.

    :param closed: pieces that are whole loops (first point = last point): their two ends get one tangent,
        so the loop has no kink where it starts.
    """
    if not pieces:
        return []
    pts = np.concatenate(pieces).astype(np.float64)
    lengths = np.array([len(p) for p in pieces])
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    last = first + lengths - 1
    owner = np.repeat(np.arange(len(pieces)), lengths)

    def unit(v: np.ndarray) -> np.ndarray:
        n = np.hypot(v[:, 0], v[:, 1])[:, None]
        return np.where(n > 1e-12, v / np.where(n > 1e-12, n, 1), v)

    # Work items: (start, end) indices into pts (inclusive), end tangents, depth, and the original piece.
    s, e = first.copy(), last.copy()
    t1 = unit(pts[np.minimum(s + 2, e)] - pts[s])
    t2 = unit(pts[np.maximum(e - 2, s)] - pts[e])
    for i in np.flatnonzero(np.asarray(closed or [False] * len(pieces))):
        if lengths[i] > 4:  # the tangent across the seam, from the points either side of it
            t1[i] = unit((pts[first[i] + 1] - pts[last[i] - 1])[None])[0]
            t2[i] = -t1[i]
    depth = np.zeros(len(s), np.int64)
    done: list[tuple[np.ndarray, np.ndarray]] = []  # (start indices, control points [k, 4, 2])
    tol2 = tolerance * tolerance
    while len(s):
        n = e - s + 1
        idx = _ranges(s, n)
        g = np.repeat(np.arange(len(s)), n)
        p = pts[idx]
        step = np.hypot(*np.diff(p, axis=0).T)
        step = np.concatenate([[0.0], step])
        step[np.cumsum(n)[:-1]] = 0.0  # no distance across pieces
        cs = np.cumsum(step)
        base, span = cs[g - g + np.repeat(np.cumsum(n) - n, n)], None
        total = cs[np.cumsum(n) - 1] - cs[np.cumsum(n) - n]
        span = np.where(total > 0, total, 1.0)[g]
        u = (cs - base) / span
        p0, p3 = pts[s], pts[e]
        chord = np.hypot(*(p3 - p0).T)
        best = np.zeros((len(s), 4, 2))
        ok = np.zeros(len(s), bool)
        err = np.zeros(len(p))
        act, pidx, pa, ua, ga = np.arange(len(s)), np.arange(len(p)), p, u, g  # the pieces still being fitted
        for attempt in range(FIT_ROUNDS):
            ctrl = _fit_batch(pa, ua, ga, p0[act], p3[act], t1[act], t2[act], chord[act], len(act))
            diff = np.einsum("nk,nkd->nd", _basis(ua), ctrl[ga]) - pa
            ea = (diff * diff).sum(1)
            err[pidx] = ea
            worst = np.maximum.reduceat(ea, np.flatnonzero(np.r_[True, ga[1:] != ga[:-1]]))
            now = worst <= tol2
            last = attempt == FIT_ROUNDS - 1 or now.all()
            settle = np.ones(len(act), bool) if last else now
            best[act[settle]] = ctrl[settle]
            ok[act[now]] = True
            if last:
                break
            keep = ~now  # converged pieces leave the batch; the rest take a Newton step and are refitted
            kp = keep[ga]
            ua = _newton_batch(ctrl[ga][kp], pa[kp], ua[kp], ga[kp])
            pa, pidx, ga, act = pa[kp], pidx[kp], (np.cumsum(keep) - 1)[ga[kp]], act[keep]
        short = n <= 3  # too few points to fit: the chord with tangent handles
        if short.any():
            h = (chord / 3)[:, None]
            best[short] = np.stack([p0, p0 + h * t1, p3 + h * t2, p3], 1)[short]
        final = ok | short | (depth >= max_depth)
        done.append((s[final], best[final]))
        split_me = ~final
        if not split_me.any():
            break
        inner = err.copy()
        ends = np.concatenate([np.cumsum(n) - n, np.cumsum(n) - 1])
        inner[ends] = -1.0
        order = np.lexsort((-inner, g))
        at = order[np.cumsum(n) - n]  # the worst inner point of each piece, as an index into idx
        k = idx[at][split_me]
        centre = unit(pts[k - 1] - pts[k + 1])
        ss, ee = s[split_me], e[split_me]
        s = np.concatenate([ss, k])
        e = np.concatenate([k, ee])
        t1 = np.concatenate([t1[split_me], -centre])
        t2 = np.concatenate([centre, t2[split_me]])
        depth = np.concatenate([depth[split_me] + 1, depth[split_me] + 1])
    starts = np.concatenate([d[0] for d in done])
    ctrls = np.concatenate([d[1] for d in done])
    order = np.argsort(starts, kind="stable")
    piece_of = owner[starts[order]]
    out: list[list[Segment]] = [[] for _ in pieces]
    for j, c in zip(piece_of.tolist(), ctrls[order], strict=True):
        out[j].append((c[0], c[1], c[2], c[3]))
    return out


def _fit_batch(p: np.ndarray, u: np.ndarray, g: np.ndarray, p0: np.ndarray, p3: np.ndarray, t1: np.ndarray,
               t2: np.ndarray, chord: np.ndarray, m: int) -> np.ndarray:
    """:func:`_fit_one` for every piece at once: control points ``[m, 4, 2]``."""
    b0, b1, b2, b3 = _basis(u).T
    c00 = np.bincount(g, b1 * b1, m)
    c11 = np.bincount(g, b2 * b2, m)
    c01 = np.bincount(g, b1 * b2, m) * (t1 * t2).sum(1)
    rest = p - (b0 + b1)[:, None] * p0[g] - (b2 + b3)[:, None] * p3[g]
    x0 = np.bincount(g, b1 * (rest * t1[g]).sum(1), m)
    x1 = np.bincount(g, b2 * (rest * t2[g]).sum(1), m)
    det = c00 * c11 - c01 * c01
    safe = np.where(np.abs(det) > 1e-12, det, 1.0)
    a1 = np.where(np.abs(det) > 1e-12, (x0 * c11 - x1 * c01) / safe, chord / 3)
    a2 = np.where(np.abs(det) > 1e-12, (c00 * x1 - c01 * x0) / safe, chord / 3)
    bad = (a1 < 1e-6 * chord) | (a2 < 1e-6 * chord)  # degenerate: the Wu/Barsky heuristic
    a1, a2 = np.where(bad, chord / 3, a1), np.where(bad, chord / 3, a2)
    return np.stack([p0, p0 + a1[:, None] * t1, p3 + a2[:, None] * t2, p3], 1)


def _newton_batch(ctrl: np.ndarray, p: np.ndarray, u: np.ndarray, g: np.ndarray) -> np.ndarray:
    """:func:`_newton` for every point of every piece (``ctrl`` is each point's segment, ``[N, 4, 2]``)."""
    mt = (1 - u)[:, None]
    uu = u[:, None]
    c0, c1, c2, c3 = ctrl[:, 0], ctrl[:, 1], ctrl[:, 2], ctrl[:, 3]
    diff = mt**3 * c0 + 3 * mt**2 * uu * c1 + 3 * mt * uu**2 * c2 + uu**3 * c3 - p
    d1 = 3 * (mt**2 * (c1 - c0) + 2 * mt * uu * (c2 - c1) + uu**2 * (c3 - c2))
    d2 = 6 * (mt * (c2 - 2 * c1 + c0) + uu * (c3 - 2 * c2 + c1))
    num = (diff * d1).sum(1)
    den = (d1 * d1 + diff * d2).sum(1)
    out = np.clip(u - num / np.where(np.abs(den) > 1e-12, den, np.inf), 0, 1)
    starts = np.r_[True, g[1:] != g[:-1]]
    ends = np.r_[g[1:] != g[:-1], True]
    out[starts], out[ends] = 0.0, 1.0
    return np.maximum.accumulate(out + g) - g  # monotone within each piece (g keeps pieces apart)


def _contour_pieces(loop: np.ndarray, corner_angle: float, spacing: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """The evenly resampled, smoothed polyline of a closed loop and its pieces between corners."""
    pts = _resample(loop, spacing)
    found = corners(pts, window=max(2, round(1.5 / spacing)), angle=corner_angle)
    smooth = _smooth(pts, SMOOTH_PASSES)
    smooth[found] = pts[found]  # corners stay sharp
    pts = smooth
    if not found:  # smooth all round: start anywhere, fit the loop as one piece (see fit_pieces' closed)
        return pts, [np.vstack([pts, pts[:1]])]
    pieces = []
    for k, start in enumerate(found):
        end = found[(k + 1) % len(found)]
        pieces.append(np.vstack([pts[start:], pts[:end + 1]]) if end <= start else pts[start:end + 1])
    return pts, pieces


def fit_contour(loop: np.ndarray, tolerance: float, corner_angle: float = 50.0, spacing: float = 0.5) -> Contour:
    """Cubic segments for one closed polyline, split at its corners."""
    pts, pieces = _contour_pieces(loop, corner_angle, spacing)
    return Contour([seg for segs in fit_pieces(pieces, tolerance) for seg in segs], pts)


def trace(image: np.ndarray, level: float = 0.5, upsample: int = 2, min_area: float = 2.0, tolerance: float = 0.25,
          corner_angle: float = 50.0) -> list[Contour]:
    """Closed outlines of the ink in ``image`` (floats, 1 = ink), in the input's pixel coordinates.

    :param level: the ink level the outline follows (0.5: half ink; lower levels draw the strokes thicker).
    :param upsample: trace on a bicubic enlargement (smoother curves between the pixels).
    :param min_area: drop islands and holes smaller than this many input pixels.
    :param tolerance: the largest distance, in input pixels, between the curves and the traced outline.
    :param corner_angle: turns sharper than this (degrees) stay corners; gentler ones become curves.
    """
    return trace_many([image], [level], upsample, min_area, tolerance, corner_angle)[0]


def trace_many(images: list[np.ndarray], levels: list[float] | None = None, upsample: int = 2, min_area: float = 2.0,
               tolerance: float = 0.25, corner_angle: float = 50.0) -> list[list[Contour]]:
    """:func:`trace` for many images: the curves of all of them are fitted in one batch (:func:`fit_pieces`),
    which is what makes tracing a few milliseconds a glyph."""
    from PIL import Image

    levels = levels or [0.5] * len(images)
    polys, pieces, owner, glyph_of, closed = [], [], [], [], []
    for i, (image, level) in enumerate(zip(images, levels, strict=True)):
        a = np.clip(np.asarray(image, np.float32), 0, 1)
        if a.ndim != 2:
            raise ValueError(f"trace takes a 2-D image, got shape {a.shape}")
        if upsample > 1:
            im = Image.fromarray(a, mode="F").resize((a.shape[1] * upsample, a.shape[0] * upsample),
                                                     Image.Resampling.BICUBIC)
            big = np.asarray(im, np.float32)
        else:
            big = a
        for loop in iso_contours(big, level):
            pts = (loop + 0.5) / upsample - 0.5 if upsample > 1 else loop
            if abs(Contour([], pts).area) < min_area:
                continue
            poly, parts = _contour_pieces(pts, corner_angle, 0.5)
            owner += [len(polys)] * len(parts)
            closed += [len(parts) == 1 and len(parts[0]) == len(poly) + 1] * len(parts)
            polys.append(poly)
            glyph_of.append(i)
            pieces += parts
    segments: list[list[Segment]] = [[] for _ in polys]
    for j, segs in zip(owner, fit_pieces(pieces, tolerance, closed=closed), strict=True):
        segments[j] += segs
    out: list[list[Contour]] = [[] for _ in images]
    for i, segs, poly in zip(glyph_of, segments, polys, strict=True):
        out[i].append(Contour(segs, poly))
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
