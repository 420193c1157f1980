"""In-memory batches, exact resume, DDP shards, references without the target, splits, DiffAugment."""

from __future__ import annotations

import pytest
import torch

from glyph import GlyphData, GlyphError
from glyph.data.augment import cutout, diff_augment, translation
from glyph.data.loader import BatchLoader, ReferenceSampler, make_splits, split_rows, to_float


def toy(writers: int = 4, chars: int = 10) -> GlyphData:
    n = writers * chars
    return GlyphData(torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 4).clone(),
                     {"writer": torch.arange(writers).repeat_interleave(chars),
                      "char": torch.arange(chars).repeat(writers)},
                     {"writer": [f"w{i}" for i in range(writers)], "char": [chr(0x4E00 + i) for i in range(chars)]})


def test_epochs_cover_all_rows_and_reshuffle():
    loader = BatchLoader(40, 8, seed=1)
    first = torch.cat([loader.next() for _ in range(5)])
    second = torch.cat([loader.next() for _ in range(5)])
    assert sorted(first.tolist()) == list(range(40)) == sorted(second.tolist())
    assert not torch.equal(first, second) and loader.epoch == 1


def test_resume_is_exact():
    a = BatchLoader(37, 5, seed=3)
    for _ in range(9):
        a.next()
    state = a.state_dict()
    rest = [a.next() for _ in range(12)]
    b = BatchLoader(37, 5, seed=3)
    b.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(rest, [b.next() for _ in range(12)], strict=True))


def test_ddp_shards_are_disjoint_and_equal():
    shards = [torch.cat([BatchLoader(40, 4, seed=0, rank=r, world_size=2).next() for _ in range(1)]) for r in (0, 1)]
    loaders = [BatchLoader(40, 4, seed=0, rank=r, world_size=2) for r in (0, 1)]
    seen = [set(torch.cat([ld.next() for _ in range(5)]).tolist()) for ld in loaders]
    assert not seen[0] & seen[1] and len(seen[0]) == len(seen[1]) == 20
    assert len(shards[0]) == len(shards[1])


def test_too_small_dataset_is_a_clear_error():
    with pytest.raises(GlyphError, match="fewer than one batch"):
        BatchLoader(3, 8)


def test_references_share_the_writer_and_never_show_the_target():
    data = toy()
    sampler = ReferenceSampler(data)
    g = torch.Generator().manual_seed(0)
    index = torch.arange(len(data))
    refs = sampler.sample(index, 8, g)
    assert refs.shape == (40, 8)
    assert torch.equal(data.labels["writer"][refs], data.labels["writer"][index].unsqueeze(1).expand(-1, 8))
    assert not (data.labels["char"][refs] == data.labels["char"][index].unsqueeze(1)).any()


def test_references_skip_duplicates_of_the_target_character():
    data = toy(1, 3)
    data.labels["char"] = torch.tensor([0, 0, 1])  # two samples of the same character
    refs = ReferenceSampler(data).sample(torch.tensor([0, 1]), 5, torch.Generator().manual_seed(1))
    assert (refs == 2).all()
    lonely = toy(1, 1)
    with pytest.raises(GlyphError, match="at least 2 different characters"):
        ReferenceSampler(lonely).sample(torch.tensor([0]), 1)


def test_splits_are_deterministic_and_partition_rows():
    a, b = toy(20, 50), toy(20, 50)
    assert make_splits(a, 0.2, 0.2, seed=5) == make_splits(b, 0.2, 0.2, seed=5)
    parts = [split_rows(a, s) for s in ("SFSC", "SFUC", "UFSC", "UFUC")]
    assert sum(len(p) for p in parts) == len(a)
    assert len(set(torch.cat(parts).tolist())) == len(a)
    assert all(len(p) for p in parts)
    assert torch.equal(split_rows(a, "train"), parts[0])


def test_writers_held_out_by_name_or_kind_join_the_hashed_share():
    data = toy(6, 20)
    data.meta["fonts"] = [{"label": "w0", "kind": "pen"}, {"label": "w1", "kind": "brush"},
                          {"label": "w2", "kind": "song"}, {"label": "w3", "kind": "pen"}]
    base = set(make_splits(toy(6, 20), 0.3, 0.1, seed=1)["unseen_writers"])
    held = set(make_splits(data, 0.3, 0.1, seed=1, hold=["kind:pen", "w5"])["unseen_writers"])
    assert held == base | {"w0", "w3", "w5"}
    trained = {data.classes["writer"][w] for w in data.labels["writer"][split_rows(data, "train")].tolist()}
    assert not trained & {"w0", "w3", "w5"}
    assert "w0" not in make_splits(data, 0.0, 0.1, hold=["kind:pen"], keep=("w0",))["unseen_writers"]
    with pytest.raises(GlyphError, match=r"no face of kind 'hei'.*kinds: brush, pen, song"):
        make_splits(data, 0.0, 0.1, hold=["kind:hei"])
    with pytest.raises(GlyphError, match="--hold-out w9: no writer of that name"):
        make_splits(data, 0.0, 0.1, hold=["w9"])


def test_to_float_ranges():
    x = torch.tensor([0, 255], dtype=torch.uint8)
    assert to_float(x).tolist() == [0.0, 1.0] and to_float(x, -1, 1).tolist() == [-1.0, 1.0]


def test_diffaugment_is_seeded_and_keeps_shapes():
    x = torch.rand(6, 1, 16, 16)
    a = diff_augment(x, generator=torch.Generator().manual_seed(0))
    b = diff_augment(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        diff_augment(x, "flip")


def test_translation_moves_without_flipping_and_cutout_fills():
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 6:10, 6:10] = 1
    moved = translation(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(moved.sum((1, 2, 3)), x.sum((1, 2, 3)))  # r = 2 px keeps the block inside
    assert not torch.equal(moved, x)
    holes = cutout(torch.ones(64, 1, 16, 16), fill=-1.0, generator=torch.Generator().manual_seed(0))
    area = (holes == -1).sum((1, 2, 3))
    assert area.max() == 64 and area.min() >= 16  # an 8x8 square, clipped at the borders
