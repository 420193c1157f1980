"""`glyph data refs | sheet | damage` through the console script."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glyph.imageio import read_image

from .conftest import NOTO_SANS
from .test_refs import photo, sheet, write_formats

NOTO = Path(NOTO_SANS)


def test_refs_folder_of_photos_is_normalised_and_bad_files_reported(glyph, tmp_path):
    src = tmp_path / "mywriter"
    src.mkdir()
    names = write_formats(src)
    photo(paper=(0.1, 0.1, 0.12), ink=(0.9, 0.9, 0.85)).save(src / "永.png")  # light ink on dark
    (src / "坏.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    r = glyph("data", "refs", str(src), "--out", str(tmp_path / "clean"))
    assert r.code == 0, r.err
    assert "坏.png" in r.err and r.err.count("skipped") >= 1 and "Traceback" not in r.err
    out = sorted(p.name for p in (tmp_path / "clean").iterdir())
    assert len(out) == len(names) + 1 and "永.png" in out and "土_2.png" in out
    img, _ = read_image(tmp_path / "clean" / "永.png")
    assert img.shape == (64, 64) and img[0, 0] > 0.95 and img.min() < 0.1  # dark ink on white paper


def test_refs_errors_explain_the_folder_format(glyph, tmp_path):
    (tmp_path / "empty").mkdir()
    r = glyph("data", "refs", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert r.code == 1 and "永.png" in r.err


def test_sheet_slices_into_references(glyph, tmp_path):
    sheet(rows=3, cols=4).save(tmp_path / "sheet.jpg")
    r = glyph("data", "sheet", str(tmp_path / "sheet.jpg"), "--text", "永二卜十口川小三一匕寸人",
              "--out", str(tmp_path / "s"))
    assert r.code == 0, r.err
    assert len(list((tmp_path / "s").iterdir())) == 12
    r = glyph("data", "sheet", str(tmp_path / "sheet.jpg"), "--text", "永二", "--out", str(tmp_path / "t"))
    assert r.code == 1 and "give the grid (ROWSxCOLS" in r.err
    r = glyph("data", "sheet", str(tmp_path / "sheet.jpg"), "--text", "永", "--grid", "3by4", "--out",
              str(tmp_path / "u"))
    assert r.code == 1 and "ROWSxCOLS" in r.err


def test_damage_writes_pairs_and_templates(glyph, tmp_path):
    r = glyph("data", "damage", "embedded", "--out", str(tmp_path / "d"), "--n", "6", "--seed", "3")
    assert r.code == 0, r.err
    damaged = sorted((tmp_path / "d" / "damaged").rglob("*.png"))
    clean = sorted((tmp_path / "d" / "clean").rglob("*.png"))
    assert len(damaged) == len(clean) == 6
    if NOTO.exists():
        assert len(list((tmp_path / "d" / "template").iterdir())) == len({p.name for p in clean})
    a, b = read_image(damaged[0])[0], read_image(clean[0])[0]
    assert a.shape == b.shape == (64, 64) and np.abs(a - b).mean() > 0.005
    again = tmp_path / "d2"
    assert glyph("data", "damage", "embedded", "--out", str(again), "--n", "6", "--seed", "3").code == 0
    assert (again / "damaged" / damaged[0].relative_to(tmp_path / "d" / "damaged")).read_bytes() == \
        damaged[0].read_bytes()  # seeded: the same damage again
