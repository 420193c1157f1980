"""Can a restoration be trusted? The evidence per glyph: the ink it kept, the ink it made up, what it reads as.

For an epigrapher a restored glyph that reads as another character is the worst outcome, so a restorer should say
where it guessed. Three kinds of evidence, all from tensors in glyph's convention (floats ``[N, 1, H, W]`` in
[0, 1], 1 = ink), so any restoration method can use them:

- **ink**: a pixel is ink above :data:`INK`. Surviving strokes are evidence; a restoration that erases much of the
  input's ink (more than damage would explain) has departed from it. Comparisons allow :data:`TOLERANCE` pixels of
  misalignment, so a stroke drawn one pixel wider or narrower counts as the same stroke.
- **reading**: the judge (:mod:`glyph.eval.judge`) reads the restoration and the damaged input. A restoration read
  as another character than the one given (``--chars``, the file name), or than the one the damaged input most
  likely is, is flagged.
- **uncertainty**: a per-pixel map from the method (Monte-Carlo dropout or test-time shifts); its mean over the
  glyph's ink says how much of the glyph was guessed.

The limits below are module constants, one place each; docs/methods/restorecae.md says how they were chosen (on the
seen-writer, unseen-character split, never on the reported one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

INK = 0.5  # a pixel at or above this is ink
TOLERANCE = 1  # pixels of misalignment allowed when comparing strokes
READ_CONFIDENCE = 0.5  # the judge's reading of a damaged input counts when it is at least this sure
# Limits chosen by bench/restore_flags.py on the seen-writer split (SFUC, default and heavy damage): the most
# changed characters caught without a template while flagging at most 10 % of the unchanged restorations.
# Flag when the mean uncertainty over the glyph's ink is above this, per kind of map (test-time shifts spread
# more than Monte-Carlo dropout).
UNCERTAIN_LIMITS = {"tta": 0.08, "mc": 0.04}
# Flag when the restoration erased more than this share of the input's ink. None: off, as chosen; damage adds ink
# (blotches, specks, filled cracks) that a good restoration removes, so at 0.4-0.5 this flagged 5-27 % of the
# unchanged restorations for few extra catches. The share is still reported for every glyph.
DROPPED_LIMIT: float | None = None
UNCLEAR_LIMIT = 0.0  # flag when the judge is less sure than this of the restoration's reading (0: off, as chosen)


def _ink(x: torch.Tensor) -> torch.Tensor:
    return x >= INK


def _grow(mask: torch.Tensor, px: int = TOLERANCE) -> torch.Tensor:
    """``mask`` dilated by ``px`` pixels (a square neighbourhood)."""
    if px <= 0:
        return mask
    return F.max_pool2d(mask.float(), 2 * px + 1, stride=1, padding=px) > 0


def _share(part: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    """Per glyph ``|part| / |whole|``; NaN where ``whole`` is empty."""
    n = whole.flatten(1).sum(1).float()
    return torch.where(n > 0, part.flatten(1).sum(1).float() / n.clamp(min=1), torch.full_like(n, float("nan")))


def ink_kept(clean: torch.Tensor, damaged: torch.Tensor, restored: torch.Tensor) -> torch.Tensor:
    """Per glyph, the share of the clean glyph's *surviving* ink (ink in both the clean glyph and the damaged
    input) that the restoration keeps (within :data:`TOLERANCE`); NaN where nothing survived."""
    surviving = _ink(clean) & _ink(damaged)
    return _share(surviving & _grow(_ink(restored)), surviving)


def ink_invented(clean: torch.Tensor, restored: torch.Tensor) -> torch.Tensor:
    """Per glyph, the share of the restoration's ink that is farther than :data:`TOLERANCE` from any clean ink
    (strokes made up); NaN where the restoration has no ink."""
    drawn = _ink(restored)
    return _share(drawn & ~_grow(_ink(clean)), drawn)


def ink_dropped(damaged: torch.Tensor, restored: torch.Tensor) -> torch.Tensor:
    """Per glyph, the share of the damaged input's ink the restoration erased (farther than :data:`TOLERANCE`
    from its own ink). Damage adds some ink (specks, filled cracks), so a little is expected; NaN without ink."""
    seen = _ink(damaged)
    return _share(seen & ~_grow(_ink(restored)), seen)


def ink_uncertainty(uncertainty: torch.Tensor, restored: torch.Tensor, damaged: torch.Tensor) -> torch.Tensor:
    """Per glyph, the mean of an uncertainty map over the ink of the restoration or of the input (grown by
    :data:`TOLERANCE`): how unsure the method was where it matters, independent of the glyph's size."""
    where = _grow(_ink(restored) | _ink(damaged)).float()
    return (uncertainty * where).flatten(1).sum(1) / where.flatten(1).sum(1).clamp(min=1)


@torch.no_grad()
def judge_read(judge: Any, images: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The judge's top-1 character index and its probability for each glyph (floats, 1 = ink)."""
    from .metrics import to_judge_input

    net = judge.net
    dev = next(net.parameters()).device
    top, prob = [], []
    for i in range(0, len(images), batch):
        u8 = (images[i:i + batch].clamp(0, 1) * 255 + 0.5).to(torch.uint8)
        _, logits, _ = net(to_judge_input(u8).to(dev))
        p, idx = torch.softmax(logits.float(), 1).max(1)
        top.append(idx.cpu())
        prob.append(p.cpu())
    if not top:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0)
    return torch.cat(top), torch.cat(prob)


@dataclass
class GlyphTrust:
    """What glyph can say about one restoration.

    :param char: the character it was given ("" when unknown).
    :param read_as: what the judge reads the restoration as ("" when no judge ran), with ``read_prob``.
    :param damaged_read_as: what the judge reads the damaged input as, with ``damaged_read_prob``.
    :param ink_dropped: share of the input's ink the restoration erased.
    :param uncertainty: mean uncertainty over the glyph's ink (NaN without a map).
    :param flags: why the restoration should be checked by eye; empty when nothing is suspicious.
    :param codes: one short code per flag (``char``, ``unclear``, ``ink``, ``unsure``), for sheets and counts.
    """

    char: str
    read_as: str = ""
    read_prob: float = float("nan")
    damaged_read_as: str = ""
    damaged_read_prob: float = float("nan")
    ink_dropped: float = float("nan")
    uncertainty: float = float("nan")
    flags: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)

    def flag(self, code: str, why: str) -> None:
        """Add a flag."""
        self.codes.append(code)
        self.flags.append(why)

    @property
    def flagged(self) -> bool:
        """Whether anything about this restoration is suspicious."""
        return bool(self.flags)

    def record(self) -> dict[str, Any]:
        """JSON-ready fields (NaN as None)."""
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and v != v else (round(v, 4) if isinstance(v, float) else v)

        return {k: clean(getattr(self, k)) for k in ("char", "read_as", "read_prob", "damaged_read_as",
                                                      "damaged_read_prob", "ink_dropped", "uncertainty", "flags",
                                                      "codes")}


def assess(damaged: torch.Tensor, restored: torch.Tensor, chars: Sequence[str], *, judge: Any = None,
           uncertainty: torch.Tensor | None = None, kind: str = "tta", dropped_limit: float | None = DROPPED_LIMIT,
           unclear_limit: float = UNCLEAR_LIMIT) -> list[GlyphTrust]:
    """The evidence and flags for each restoration.

    :param damaged: the inputs, ``restored`` the restorations (floats ``[N, 1, H, W]``, 1 = ink, same size).
    :param chars: each glyph's given character, "" where unknown.
    :param judge: a loaded judge (:func:`glyph.eval.judge.load_judge`); None skips the readings.
    :param uncertainty: per-pixel maps ``[N, 1, H, W]`` (None: no uncertainty flag) of ``kind`` (``tta`` or ``mc``,
        which sets the limit: :data:`UNCERTAIN_LIMITS`).
    :param dropped_limit: flag above this share of erased input ink (None: never); ``unclear_limit``: flag below
        this reading confidence (0: never). The defaults are the chosen limits.
    """
    n = len(restored)
    if len(damaged) != n or len(chars) != n:
        raise ValueError(f"assess needs one input and one character per restoration ({len(damaged)}, "
                         f"{len(chars)}, {n})")
    dropped = ink_dropped(damaged, restored)
    unsure = ink_uncertainty(uncertainty, restored, damaged) if uncertainty is not None else None
    out = [GlyphTrust(char=c, ink_dropped=float(dropped[i])) for i, c in enumerate(chars)]
    if judge is not None and n:
        names = judge.chars
        index = {c: i for i, c in enumerate(names)}
        r_idx, r_p = judge_read(judge, restored)
        d_idx, d_p = judge_read(judge, damaged)
        for i, t in enumerate(out):
            t.read_as, t.read_prob = names[int(r_idx[i])], float(r_p[i])
            t.damaged_read_as, t.damaged_read_prob = names[int(d_idx[i])], float(d_p[i])
            if t.char in index and t.read_as != t.char:
                t.flag("char", f"reads as {t.read_as}, not {t.char} (the given character)")
            # Also when a character was given: a wrong --chars or file name pulls the restoration towards it.
            if t.damaged_read_prob >= READ_CONFIDENCE and t.read_as != t.damaged_read_as:
                t.flag("char", f"reads as {t.read_as}; the damaged input reads as {t.damaged_read_as}")
            if t.read_prob < unclear_limit and not t.flagged:
                t.flag("unclear", f"reads unclearly (the judge is {t.read_prob:.0%} sure it is {t.read_as})")
    for i, t in enumerate(out):
        if dropped_limit is not None and t.ink_dropped > dropped_limit:
            t.flag("ink", f"erased {t.ink_dropped:.0%} of the input's ink")
        if unsure is not None:
            t.uncertainty = float(unsure[i])
            if t.uncertainty > UNCERTAIN_LIMITS[kind]:
                t.flag("unsure", f"unsure (uncertainty {t.uncertainty:.2f} over the ink)")
    return out


def calibration(uncertainty: torch.Tensor, restored: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
    """How well an uncertainty map predicts where a restoration is wrong.

    :returns: ``pixel_auroc``: the chance that a wrong pixel (off by more than 0.5 from the clean glyph) has a
        higher uncertainty than a right one, over every pixel (0.5 = no better than chance); ``glyph_spearman``:
        rank correlation between a glyph's mean uncertainty and its mean absolute error.
    """
    wrong = ((restored - clean).abs() > 0.5).flatten()
    n_pos, n_neg = int(wrong.sum()), int((~wrong).sum())
    if n_pos and n_neg:  # Mann-Whitney U over average ranks (most pixels tie at zero uncertainty)
        ranks = _ranks(uncertainty.flatten().double())
        auroc = float((ranks[wrong].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    else:
        auroc = float("nan")
    err = (restored - clean).abs().flatten(1).mean(1).double()
    mean_u = uncertainty.flatten(1).mean(1).double()
    if len(err) > 2:
        a, b = _ranks(err), _ranks(mean_u)
        a, b = a - a.mean(), b - b.mean()
        rho = float((a * b).sum() / ((a.square().sum() * b.square().sum()).sqrt() + 1e-12))
    else:
        rho = float("nan")
    return {"pixel_auroc": auroc, "glyph_spearman": rho}


def _ranks(v: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``v``, ties given their average rank."""
    _, inverse, counts = torch.unique(v, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    return ((ends - counts.double() + 1 + ends) / 2)[inverse]
