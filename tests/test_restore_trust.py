"""Trusting a restoration: ink evidence, the judge's reading, uncertainty calibration, planted wrong characters."""

from __future__ import annotations

import pytest
import torch

from glyph.eval.judge import load_judge
from glyph.eval.trust import (
    UNCERTAIN_LIMITS,
    assess,
    calibration,
    ink_dropped,
    ink_invented,
    ink_kept,
)


def _glyph(char: str) -> torch.Tensor:
    from glyph.data.templates import template_glyphs

    return torch.from_numpy(template_glyphs([char], size=64).glyphs[char]).float().div(255).view(1, 1, 64, 64)


@pytest.fixture(scope="module")
def judge():
    return load_judge()


def test_ink_shares_count_what_survived_what_was_made_up_and_what_was_erased():
    clean = torch.zeros(1, 1, 16, 16)
    clean[..., 4:12, 4:12] = 1  # 64 ink pixels
    damaged = clean.clone()
    damaged[..., 4:12, 4:8] = 0  # half the ink lost: 32 survive
    damaged[..., 0, 0] = 1  # and a speck of dirt
    restored = clean.clone()
    restored[..., 4:12, 10:12] = 0  # the restoration drops 16 of the surviving 32 (column 10 is within tolerance)
    restored[..., 14:16, 0:16] = 1  # and invents a bar of 32 pixels, 3 px below the clean ink
    assert ink_kept(clean, damaged, restored).item() == pytest.approx(24 / 32)
    assert ink_invented(clean, restored).item() == pytest.approx(32 / (48 + 32))
    assert ink_dropped(damaged, restored).item() == pytest.approx((8 + 1) / 33)  # column 11 and the speck
    empty = torch.zeros(1, 1, 16, 16)
    assert torch.isnan(ink_kept(clean, empty, restored)).all() and torch.isnan(ink_invented(clean, empty)).all()


def test_calibration_tells_a_map_that_knows_from_one_that_guesses():
    g = torch.Generator().manual_seed(0)
    clean = (torch.rand(64, 1, 8, 8, generator=g) > 0.5).float()
    wrong = torch.rand(64, 1, 8, 8, generator=g) < torch.linspace(0, 0.4, 64).view(64, 1, 1, 1)
    restored = torch.where(wrong, 1 - clean, clean)
    knows = calibration(wrong.float() * 0.3, restored, clean)
    guesses = calibration(torch.rand(64, 1, 8, 8, generator=g), restored, clean)
    assert knows["pixel_auroc"] == pytest.approx(1.0) and knows["glyph_spearman"] > 0.9
    assert abs(guesses["pixel_auroc"] - 0.5) < 0.05 and abs(guesses["glyph_spearman"]) < 0.3


def test_a_restoration_forced_to_another_character_is_flagged(judge):
    yong, shui = _glyph("永"), _glyph("水")
    # The given character is 永, the restoration draws 水: the judge reads 水 and the glyph is flagged.
    [t] = assess(yong, shui, ["永"], judge=judge)
    assert t.read_as == "水" and t.flagged and t.codes[0] == "char" and "not 永" in t.flags[0]
    # A wrong --chars (水) pulled a clearly readable 永 into 水: the damaged input's reading catches it.
    [t] = assess(yong, shui, ["水"], judge=judge)
    assert t.damaged_read_as == "永" and "the damaged input reads as 永" in " ".join(t.flags)
    # Character unknown: the same.
    [t] = assess(yong, shui, [""], judge=judge)
    assert t.flagged and t.codes == ["char"]
    # A faithful restoration is not flagged.
    [t] = assess(yong, yong, ["永"], judge=judge)
    assert t.read_as == "永" and not t.flagged


def test_erasing_the_surviving_ink_and_guessing_are_flagged(judge):
    yong = _glyph("永")
    half = yong.clone()
    half[..., :, 32:] = 0
    [t] = assess(yong, half, [""])  # no judge, and the erased-ink flag is off by default (see the card)
    assert t.ink_dropped > 0.4 and not t.flagged
    [t] = assess(yong, half, [""], dropped_limit=0.35)
    assert t.codes == ["ink"] and "erased" in t.flags[0]
    for kind, limit in UNCERTAIN_LIMITS.items():
        [t] = assess(yong, yong, [""], uncertainty=torch.full_like(yong, limit * 1.5), kind=kind)
        assert t.codes == ["unsure"] and t.uncertainty == pytest.approx(limit * 1.5)
        [t] = assess(yong, yong, [""], uncertainty=torch.full_like(yong, limit * 0.5), kind=kind)
        assert not t.flagged
    [t] = assess(yong, yong, ["永"], judge=judge, unclear_limit=1.01)
    assert t.codes == ["unclear"]
    assert set(t.record()) >= {"char", "read_as", "ink_dropped", "uncertainty", "flags", "codes"}


def test_restorecae_flags_a_restoration_planted_with_the_wrong_character(tmp_path, monkeypatch):
    """The shipped restorer, its output replaced by another character's glyph: run must flag it."""
    import json

    from glyph.api import load
    from glyph.imageio import write_image
    from glyph.method import RunContext

    model = load("restorecae", device="cpu")
    real = model.restore_batch
    monkeypatch.setattr(model, "restore_batch", lambda d, t=None, batch=128, progress=None: torch.cat(
        [_glyph("水") if i == 1 else real(d[i:i + 1], None if t is None else t[i:i + 1]) for i in range(len(d))]))
    inputs = tmp_path / "in"
    for ch in "永和":
        write_image(inputs / f"{ch}.png", 1.0 - _glyph(ch)[0, 0].numpy())
    ctx = RunContext(device="cpu")
    model.run(ctx, input=inputs, out=tmp_path / "out", uncertainty="tta")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    by_char = {g["char"]: g for g in report["glyphs"]}
    assert by_char["永"]["read_as"] == "水" and "char" in by_char["永"]["codes"]
    assert by_char["和"]["flags"] == [] and report["flagged"] == 1
    assert any("1 of 2 restorations need a look: 永.png" in n for n in ctx.report.notes)


def test_restore_checked_gives_each_glyph_its_map_and_evidence():
    from glyph.api import load

    out = load("restorecae", device="cpu").restore_checked("example:inscription/damaged", uncertainty="tta")
    assert "".join(r.trust.char for r in out) == "世仁印友吉四图圣"  # from the file names
    assert all(r.image.size == (64, 64) and r.uncertainty.mode == "RGB" for r in out)
    assert all(r.trust.read_as and r.trust.uncertainty >= 0 for r in out)
    flagged = [r.trust.char for r in out if r.trust.flagged]
    assert all(any(f.startswith(("reads as", "erased", "unsure")) for f in r.trust.flags) for r in out
               if r.trust.flagged) and len(flagged) < len(out)
