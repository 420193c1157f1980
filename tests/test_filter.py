"""The filter method: the published rule, its generalisations, and robust file handling."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from glyph import RunContext
from glyph.config import apply_overrides
from glyph.imageio import read_image, write_image
from glyph.paper import ink_is_dark
from glyph.plugins.filter.method import Config, Filter, apply_filter


def test_published_rule_per_channel():
    rng = np.random.default_rng(0)
    x = rng.random((16, 16, 3)).astype(np.float32)
    expected = x + (1 - x) * (x > 0.8)  # seeds-code-report §1.9
    got = apply_filter(x, Config(threshold=0.8, ink="dark", mode="channel"))
    np.testing.assert_allclose(got, expected, atol=1e-7)


def test_light_ink_on_dark_paper_is_the_mirror_image():
    rng = np.random.default_rng(1)
    x = rng.random((8, 8)).astype(np.float32)
    dark = apply_filter(x, Config(ink="dark"))
    light = apply_filter(1 - x, Config(ink="light"))
    np.testing.assert_allclose(light, 1 - dark, atol=1e-6)


def test_auto_polarity_follows_the_paper():
    paper_white = np.ones((10, 10), np.float32)
    paper_white[4:6] = 0.0
    assert ink_is_dark(paper_white)
    assert not ink_is_dark(1 - paper_white)
    faint = paper_white.copy()
    faint[0, 0] = 0.9
    assert apply_filter(faint, Config(ink="auto"))[0, 0] == 1.0
    assert apply_filter(1 - faint, Config(ink="auto"))[0, 0] == 0.0


def test_luma_mode_moves_whole_pixels():
    x = np.array([[[0.95, 0.95, 0.5]]], np.float32)  # luminance ≈ 0.89 > 0.8, blue channel 0.5
    np.testing.assert_allclose(apply_filter(x, Config(ink="dark", mode="luma")), [[[1, 1, 1]]])
    np.testing.assert_allclose(apply_filter(x, Config(ink="dark", mode="channel")), [[[1, 1, 0.5]]])


def test_soft_knee_ramps_linearly():
    x = np.array([[0.65, 0.75, 0.85]], np.float32)
    y = apply_filter(x, Config(ink="dark", threshold=0.8, knee=0.1))
    np.testing.assert_allclose(y, [[0.65, 0.75 + 0.25 * 0.5, 1.0]], atol=1e-6)


def test_alpha_passes_through():
    x = np.zeros((4, 4, 4), np.float32)
    x[..., :3] = 0.9
    x[..., 3] = 0.3
    y = apply_filter(x, Config(ink="dark"), has_alpha=True)
    np.testing.assert_allclose(y[..., :3], 1.0)
    np.testing.assert_allclose(y[..., 3], 0.3)


def test_config_validation_names_the_field():
    with pytest.raises(Exception, match="threshold must be between 0 and 1"):
        apply_overrides(Config(), {"threshold": 1.5}, "test")


def _glyph_image(path, mode="L", size=24):
    a = np.ones((size, size), np.float32)
    a[6:18, 10:14] = 0.0
    a[0, 0] = 0.9  # a faint artefact the filter must remove
    if mode == "L":
        write_image(path, a)
    elif mode == "RGB":
        write_image(path, np.repeat(a[..., None], 3, axis=-1))
    elif mode == "P":
        Image.fromarray((a * 255).astype(np.uint8)).convert("P").save(path)
    elif mode == "I;16":
        Image.fromarray((a * 65535).astype(np.uint16)).save(path)
    return path


def test_run_on_a_folder_mirrors_it_and_reports_bad_files(glyph, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    _glyph_image(src / "a.png")
    _glyph_image(src / "sub" / "b.jpg", "RGB")
    _glyph_image(src / "p.png", "P")
    _glyph_image(src / "deep.png", "I;16")
    (src / "empty.png").write_bytes(b"")
    (src / "notes.png").write_text("not an image")
    good = (src / "a.png").read_bytes()
    (src / "truncated.png").write_bytes(good[: len(good) // 2])
    (src / "readme.txt").write_text("ignored")
    out = tmp_path / "out"
    r = glyph("run", "filter", "--input", str(src), "--out", str(out))
    assert r.code == 0, r.err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a.png", "deep.png", "p.png", "sub/b.jpg"]
    for name in ("empty.png", "notes.png", "truncated.png"):
        lines = [ln for ln in r.err.splitlines() if name in ln]
        assert len(lines) == 1, r.err  # one line per bad file
    assert "empty file" in r.err and "Traceback" not in r.err
    pixels, _ = read_image(out / "a.png")
    assert pixels[0, 0] == 1.0 and pixels[10, 11] == 0.0
    assert not list(out.rglob("*.tmp"))


def test_run_on_a_file_and_missing_inputs(glyph, tmp_path):
    src = _glyph_image(tmp_path / "g.png")
    r = glyph("run", "filter", "-i", str(src), "-o", str(tmp_path / "o.png"), "--threshold", "0.85")
    assert r.code == 0, r.err
    assert read_image(tmp_path / "o.png")[0][0, 0] == 1.0
    missing = glyph("run", "filter", "-i", str(tmp_path / "nope.png"), "-o", str(tmp_path / "x.png"))
    assert missing.code == 1 and missing.err.count("\n") == 1 and "no such file" in missing.err
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    r = glyph("run", "filter", "-i", str(bad), "-o", str(tmp_path / "y.png"))
    assert r.code == 1 and "not an image" in r.err and not (tmp_path / "y.png").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    r = glyph("run", "filter", "-i", str(empty), "-o", str(tmp_path / "z"))
    assert r.code == 1 and "no images in" in r.err
    inside = glyph("run", "filter", "-i", str(tmp_path), "-o", str(tmp_path / "nested"))
    assert inside.code == 1 and "inside --input" in inside.err


def test_bad_option_values_are_usage_or_user_errors(glyph, tmp_path):
    src = _glyph_image(tmp_path / "g.png")
    r = glyph("run", "filter", "-i", str(src), "-o", str(tmp_path / "o.png"), "--ink", "purple")
    assert r.code == 2 and "purple" in r.err
    r = glyph("run", "filter", "-i", str(src), "-o", str(tmp_path / "o.png"), "--threshold", "7")
    assert r.code == 1 and "between 0 and 1" in r.err
    r = glyph("run", "filter", "-i", str(src), "-o", str(tmp_path / "p.png"), "--preset", "published")
    assert r.code == 0


def test_bundled_example_runs(glyph, tmp_path):
    r = glyph("run", "filter", "--input", "example:filter-grids", "--out", str(tmp_path / "f"))
    assert r.code == 0, r.err
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["grid-gray.png", "grid-rgb.png"]
    unknown = glyph("run", "filter", "--input", "example:nothing", "--out", str(tmp_path / "g"))
    assert unknown.code == 1 and "example:filter-grids" in unknown.err


def test_interrupted_or_failed_write_leaves_nothing_half_written(tmp_path, monkeypatch):
    src = _glyph_image(tmp_path / "g.png")
    target = tmp_path / "out" / "g.png"

    def boom(self, fp, *a, **k):
        with open(fp, "wb") as fh:
            fh.write(b"\x89PNG partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        Filter().run(RunContext(), input=str(src), out=target)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_full_disk_is_one_clear_error(tmp_path, monkeypatch):
    src = _glyph_image(tmp_path / "g.png")

    def full(self, fp, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(Exception, match="No space left on device; check free space"):
        Filter().run(RunContext(), input=str(src), out=tmp_path / "o.png")
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]
