"""Image reading and writing: any mode in, one clear error per bad file, atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from glyph.imageio import MAX_PIXELS, ImageReadError, atomic_output, list_images, read_image, write_image


def test_modes_normalise(tmp_path):
    Image.new("RGBA", (4, 4), (255, 0, 0, 128)).save(tmp_path / "a.png")
    Image.new("LA", (4, 4), (10, 200)).save(tmp_path / "b.png")
    Image.new("1", (4, 4), 1).save(tmp_path / "c.png")
    assert read_image(tmp_path / "a.png")[1] == "RGBA"
    assert read_image(tmp_path / "b.png")[1] == "LA"
    a, kind = read_image(tmp_path / "c.png")
    assert kind == "L" and a.max() == 1.0


def test_exif_rotation_is_applied(tmp_path):
    im = Image.new("L", (6, 2), 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    im.save(tmp_path / "r.jpg", exif=exif)
    assert read_image(tmp_path / "r.jpg")[0].shape == (6, 2)


def test_decompression_bomb_is_refused(tmp_path):
    side = int(MAX_PIXELS**0.5) + 10
    Image.new("1", (side, side)).save(tmp_path / "bomb.png")
    with pytest.raises(ImageReadError, match="larger than glyph accepts"):
        read_image(tmp_path / "bomb.png")


def test_symlink_outside_is_skipped(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "secret.png"
    write_image(outside, np.zeros((2, 2)))
    write_image(root / "ok.png", np.zeros((2, 2)))
    os.symlink(outside, root / "link.png")
    os.symlink(root / "ok.png", root / "inner.png")
    files, skipped = list_images(root)
    assert [p.name for p in files] == ["inner.png", "ok.png"]
    assert skipped == [(str(root / "link.png"), "symlink leads outside the input folder; skipped")]


def test_atomic_output_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]
