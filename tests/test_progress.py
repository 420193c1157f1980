"""Long jobs report progress through ``RunContext.advance`` (the CLI draws it as a bar on a terminal)."""

from __future__ import annotations

import glyph


def recorder() -> tuple[glyph.RunContext, list[tuple[str, int, int]]]:
    calls: list[tuple[str, int, int]] = []
    return glyph.RunContext(progress=lambda task, done, total: calls.append((task, done, total))), calls


def test_ddpm_sampling_counts_every_denoising_step_over_all_batches(tmp_path):
    ctx, calls = recorder()
    model = glyph.load("ddpm", precision="fp32")
    model.denoise(model._noise(3, None), "ddim", 4, 0.0, batch=2,
                  progress=lambda done, total: ctx.advance("denoising", done, total))
    assert [c[1] for c in calls] == list(range(1, 9)) and {c[2] for c in calls} == {8}

    ctx, calls = recorder()
    model.run(ctx, n=2, out=tmp_path / "grid.png", steps=3)
    assert ("denoising", 3, 3) in calls and calls[-1] == ("sampling", 2, 2) and (tmp_path / "grid.png").exists()


def test_dsfgan_writing_reports_its_glyphs():
    ctx, calls = recorder()
    glyph.load("dsfgan").write("example:handwriting", "永和九年", n_refs=2, ctx=ctx)
    assert calls and calls[-1] == ("writing", 4, 4)


def test_damage_and_font_building_report_progress(tmp_path):
    import numpy as np
    import torch

    from glyph.data.damage import damage_images
    from glyph.font import build_font

    seen: list[tuple[int, int]] = []
    images = torch.zeros(10, 1, 32, 32, dtype=torch.uint8)
    damage_images(images, block_size=4, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(4, 10), (8, 10), (10, 10)]

    seen.clear()
    square = np.zeros((32, 32), np.float32)
    square[8:24, 8:24] = 1.0
    build_font({"永": square, "和": square}, tmp_path / "f.otf", "Test",
               progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (2, 2) and (tmp_path / "f.otf").exists()


def test_rendering_counts_glyphs_serially_and_in_parallel():
    from glyph.data.fonts import parse_font_specs
    from glyph.data.render import render_faces
    from tests.conftest import NOTO_SANS, UKAI, require_font

    require_font(NOTO_SANS)
    require_font(UKAI)
    from glyph.data.charsets import load_charset

    faces = parse_font_specs("noto-sans-sc-regular,ukai-cn")
    chars = load_charset("common-300").chars  # 600 glyphs: past PARALLEL_MIN, so two workers run in parallel
    for workers in (1, 2):
        seen: list[tuple[int, int]] = []
        render_faces(faces, chars, workers=workers, progress=lambda done, total, seen=seen: seen.append((done, total)))
        assert seen[-1] == (2 * len(chars), 2 * len(chars))
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_many_samples_are_drawn_and_written_a_batch_at_a_time(tmp_path):
    """--n beyond one batch: every PNG numbered in order, the grid whole, the batches counted; a sample is the
    same whichever batch it was drawn in."""
    import numpy as np
    from PIL import Image

    from glyph.generate import WRITE_BATCH

    ctx, calls = recorder()
    model = glyph.load("dcgan", precision="fp32")
    n = WRITE_BATCH + 10
    model.run(ctx, n=n, out=tmp_path / "grid.png", out_dir=tmp_path / "each")
    files = sorted((tmp_path / "each").iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(n)] and (tmp_path / "grid.png").exists()
    assert calls[-1] == ("sampling", n, n) and len(calls) == 2
    whole = model.sample(n, seed=0)  # drawn in one batch
    for i in (0, n - 1):
        assert np.abs(np.asarray(Image.open(files[i]), dtype=int) - np.asarray(whole[i], dtype=int)).max() <= 1
