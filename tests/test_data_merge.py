"""`glyph data merge`: real faces and synthetic writers in one writers dataset, their sources and splits kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from glyph.data.merge import merge_datasets, writer_sources
from glyph.dataset import GlyphData
from glyph.errors import GlyphError

STROKES = Path(__file__).parent / "data" / "hanzi-writer-data"


def _data(chars: str, writers: list[str], source: str, unseen_writers=(), unseen_chars=(), size=8) -> GlyphData:
    rows = [(c, w) for w in range(len(writers)) for c in range(len(chars))]
    images = torch.stack([torch.full((1, size, size), 10 * w + c, dtype=torch.uint8) for c, w in rows])
    labels = {"char": torch.tensor([c for c, _ in rows]), "writer": torch.tensor([w for _, w in rows])}
    meta = {"ink": "glyph", "source": source,
            "splits": {"unseen_writers": list(unseen_writers), "unseen_chars": list(unseen_chars), "seed": ["0"]}}
    return GlyphData(images, labels, {"char": list(chars), "writer": writers}, meta)


def test_characters_match_by_character_and_writers_keep_their_source():
    real = _data("永和九", ["noto", "ukai"], "fonts", unseen_writers=["ukai"], unseen_chars=["九"])
    synth = _data("九永年", ["synth-0", "synth-1"], "synth", unseen_writers=["synth-1"], unseen_chars=["年"])
    merged = merge_datasets([("real", real), ("synth", synth)])
    assert merged.classes["char"] == list("永和九年") and merged.classes["writer"] == ["noto", "ukai", "synth-0",
                                                                                    "synth-1"]
    assert len(merged) == len(real) + len(synth)
    # Every row keeps its character and writer (by name) and its pixels.
    assert merged.label_names("char") == real.label_names("char") + synth.label_names("char")
    assert merged.label_names("writer") == real.label_names("writer") + synth.label_names("writer")
    assert torch.equal(merged.images, torch.cat([real.images, synth.images]))
    assert writer_sources(merged) == {"noto": "fonts", "ukai": "fonts", "synth-0": "synth", "synth-1": "synth"}
    splits = merged.meta["splits"]
    assert splits["unseen_writers"] == ["synth-1", "ukai"] and splits["unseen_chars"] == ["九", "年"]
    assert writer_sources(real) == {"noto": "fonts", "ukai": "fonts"}  # an unmerged dataset: its own source


def test_what_cannot_merge_says_why():
    a = _data("永", ["a"], "fonts")
    with pytest.raises(GlyphError, match="at least two"):
        merge_datasets([("a", a)])
    with pytest.raises(GlyphError, match="the same size first"):
        merge_datasets([("a", a), ("b", _data("永", ["b"], "synth", size=16))])
    flat = GlyphData(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), meta={"ink": "glyph"})
    with pytest.raises(GlyphError, match="only writers datasets merge"):
        merge_datasets([("a", a), ("flat", flat)])


def test_merge_command_and_fewshot_report_each_source(glyph, tmp_path):
    synth = tmp_path / "synth.safetensors"
    r = glyph("data", "synth", "--writers", "4", "--charset", "是不了人在有他这中大来上", "--size", "64",
              "--strokes", str(STROKES), "--unseen-writers", "0.5", "--unseen-chars", "0.4", "--out", str(synth))
    assert r.code == 0, r.err
    both = tmp_path / "both.safetensors"
    r = glyph("data", "merge", "embedded", str(synth), "--out", str(both))
    assert r.code == 0, r.err
    assert "6 fonts, 4 synth writers" in r.err
    json_out = tmp_path / "fewshot.json"
    r = glyph("eval", "fewshot", "--data", str(both), "--refs", "2", "--per-writer", "3", "--splits", "SFUC",
              "--metrics", "ssim,l1", "--no-baselines", "--json", str(json_out))
    assert r.code == 0, r.err
    import json

    rows = json.loads(json_out.read_text())["rows"]
    assert {row["source"] for row in rows} == {"fonts", "synth"}  # reported apart, never pooled
