"""Feeding training from memory: the whole dataset as one uint8 tensor on the device, batches by index.

- :class:`BatchLoader` yields index batches, reshuffled every epoch from ``(seed, epoch)`` alone, so
  its state is two integers and resume is exact; under DDP each rank takes a disjoint shard.
- :class:`ReferenceSampler` draws, for each target row, k rows of the same writer that never show the
  target's character (the published DSF-GAN code draws with replacement and can leak the target).
- :func:`make_splits` / :func:`split_rows`: deterministic seen/unseen writers x characters
  (SFSC, SFUC, UFSC, UFUC), recorded in the dataset's metadata.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch

from ..dataset import GlyphData
from ..errors import GlyphError, did_you_mean


def to_float(images: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """uint8 [0, 255] -> float in [low, high] (e.g. [-1, 1] for a tanh generator), on the same device."""
    return images.float().mul_((high - low) / 255.0).add_(low)


def signed_batch(data: GlyphData, index: torch.Tensor, channels: int, resolution: int, method: str,
                 hint: str = "") -> torch.Tensor:
    """Rows ``index`` as floats in [-1, 1] (glyph ink +1, paper -1) at ``resolution``: the input of the
    unconditional generators. A dataset of another channel count is refused with a message naming ``method``."""
    import torch.nn.functional as F

    if data.channels != channels:
        raise GlyphError(f"{method} is configured for {channels}-channel images but the data has {data.channels}; "
                         f"{hint or 'use'} --set channels={data.channels}")
    x = data.images[index].float().div_(127.5).sub_(1.0)
    if x.shape[-1] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True)
    return x


class BatchLoader:
    """Random batches of row indices over ``n`` rows (or over the given ``rows``), epoch after epoch.

    :param rows: the rows to draw from (e.g. a training split), default all ``n``.
    :param rank: this process's rank; with ``world_size`` > 1 each rank sees a disjoint shard.
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0, rows: torch.Tensor | None = None,
                 rank: int = 0, world_size: int = 1, drop_last: bool = True, device: Any = "cpu") -> None:
        self.rows = rows.cpu() if rows is not None else torch.arange(n)
        shard = len(self.rows) // world_size if world_size > 1 else len(self.rows)
        if batch_size < 1:
            raise GlyphError(f"batch size must be at least 1, got {batch_size}")
        if shard < (batch_size if drop_last else 1):
            raise GlyphError(f"the dataset has {len(self.rows)} rows ({shard} per process), fewer than one batch of "
                             f"{batch_size}; lower --batch or use more data")
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.drop_last, self.device = drop_last, device
        self.epoch, self.position = 0, 0
        self._perm: torch.Tensor | None = None

    def _epoch_perm(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = self.rows[torch.randperm(len(self.rows), generator=g)]
        if self.world_size > 1:  # equal, disjoint shards: every rank takes the same number of steps
            per = len(perm) // self.world_size
            perm = perm[self.rank * per:(self.rank + 1) * per]
        # One copy to the device per epoch; batches are then slices of it, so no step waits on a host copy.
        return perm.to(self.device)

    def __len__(self) -> int:
        per = len(self.rows) // self.world_size if self.world_size > 1 else len(self.rows)
        return per // self.batch_size if self.drop_last else -(-per // self.batch_size)

    def next(self) -> torch.Tensor:
        """The next batch of row indices (int64, on the loader's device)."""
        if self._perm is None:
            self._perm = self._epoch_perm()
        end = self.position + self.batch_size
        if end > len(self._perm) and (self.drop_last or self.position >= len(self._perm)):
            self.epoch, self.position = self.epoch + 1, 0
            self._perm = self._epoch_perm()
            end = self.batch_size
        batch = self._perm[self.position:end]
        self.position = end
        return batch

    def state_dict(self) -> dict[str, int]:
        """Two integers: with the seed they fix every future batch."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue exactly where :meth:`state_dict` was taken."""
        self.epoch, self.position, self.seed = int(state["epoch"]), int(state["position"]), int(state["seed"])
        self._perm = None


class ReferenceSampler:
    """k reference rows of the same writer as each target, never showing the target's character."""

    def __init__(self, data: GlyphData, writer: str = "writer", char: str = "char") -> None:
        for col in (writer, char):
            if col not in data.labels:
                raise GlyphError(f"reference sampling needs a '{col}' label; this dataset has "
                                 f"{', '.join(data.labels) or 'no labels'}")
        w = data.labels[writer]
        self.char = data.labels[char]
        self.order = torch.argsort(w, stable=True)
        self.counts = torch.bincount(w, minlength=len(data.classes.get(writer, [])) or int(w.max()) + 1)
        self.offsets = torch.cumsum(self.counts, 0) - self.counts
        self.writer = w

    def sample(self, index: torch.Tensor, k: int, generator: torch.Generator | None = None,
               tries: int = 16) -> torch.Tensor:
        """Rows ``[B, k]`` for targets ``index`` ``[B]`` (on the device of the labels)."""
        dev = self.order.device
        index = index.to(dev)
        w = self.writer[index]
        n = self.counts[w].unsqueeze(1)
        target_char = self.char[index].unsqueeze(1)
        out = torch.empty(len(index), k, dtype=torch.long, device=dev)
        todo = torch.ones(len(index), k, dtype=torch.bool, device=dev)
        for _ in range(tries):
            r = (torch.rand(len(index), k, generator=generator, device=dev) * n).long().clamp_(max=n - 1)
            rows = self.order[self.offsets[w].unsqueeze(1) + r]
            fresh = todo & (self.char[rows] != target_char)
            out[fresh] = rows[fresh]
            todo &= ~fresh
            if not bool(todo.any()):
                return out
        bad = int(index[todo.any(1)][0])
        raise GlyphError(f"writer of row {bad} has no character other than the target's; every writer needs at "
                         f"least 2 different characters for references")


def _unit(name: str, seed: int) -> float:
    h = hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def held_writers(data: GlyphData, hold: Sequence[str]) -> set[str]:
    """The writers ``hold`` names: writer names, or ``kind:KIND`` for every rendered face of that kind of script
    (``kind:pen``, ``kind:brush``: corpus.toml's kinds, recorded in ``meta["fonts"]``).

    :raises GlyphError: a name that is no writer of the dataset, a kind no face has.
    """
    writers = set(data.classes.get("writer", []))
    kinds: dict[str, set[str]] = {}
    for f in data.meta.get("fonts", []):
        if isinstance(f, dict) and f.get("kind"):
            kinds.setdefault(f["kind"], set()).add(f.get("label", ""))
    held: set[str] = set()
    for item in (h.strip() for h in hold if h.strip()):
        if item.startswith("kind:"):
            kind = item[5:]
            if kind not in kinds:
                raise GlyphError(f"--hold-out {item}: no face of kind '{kind}' in this dataset (kinds: "
                                 f"{', '.join(sorted(kinds)) or 'none recorded'})")
            held |= kinds[kind] & writers
        elif item in writers:
            held.add(item)
        else:
            raise GlyphError(f"--hold-out {item}: no writer of that name in this dataset"
                             f"{did_you_mean(item, writers)}; name writers or kind:KIND")
    return held


def make_splits(data: GlyphData, unseen_writers: float = 0.1, unseen_chars: float = 0.1, seed: int = 0,
                keep: tuple[str, ...] = (), hold: Sequence[str] = ()) -> dict[str, list[str]]:
    """Deterministic unseen writers and characters (by hashing names, so adding data does not reshuffle).

    ``keep`` lists writers never held out (e.g. the template); ``hold`` writers always held out besides the share
    (names or ``kind:KIND``, see :func:`held_writers`). The result is stored in ``data.meta["splits"]``.
    """
    held = held_writers(data, hold) - set(keep)
    writers = [w for w in data.classes.get("writer", []) if w not in keep]
    chars = data.classes.get("char", [])
    splits = {
        "unseen_writers": sorted(w for w in writers if _unit("w:" + w, seed) < unseen_writers or w in held),
        "unseen_chars": sorted(c for c in chars if _unit("c:" + c, seed) < unseen_chars),
        "seed": [str(seed)],
    }
    data.meta["splits"] = splits
    return splits


_REGIONS = {"cjk", "sc", "tc", "jp", "kr", "hk", "cn", "tw", "gb", "big5"}
_WEIGHTS = {"thin", "hairline", "extralight", "ultralight", "light", "demilight", "regular", "book", "normal",
            "medium", "semibold", "demibold", "bold", "extrabold", "ultrabold", "black", "heavy"}


def design_key(family: str) -> str:
    """A font family's design, without its region and weight: ``Noto Serif CJK SC`` and ``Noto Serif TC`` are both
    ``notoserif``. Faces of one design share their strokes (a regional version redraws a few characters, a
    weight thickens them), so holding out one while training on another is no test of a new hand."""
    words = "".join(c if c.isalnum() else " " for c in family.lower()).split()
    return "".join(w for w in words if w not in _REGIONS | _WEIGHTS)


def design_siblings(data: GlyphData) -> list[str]:
    """Seen writers (rendered faces) of the same design as an unseen writer: they must not train a model that is
    measured on unseen writers (``meta["fonts"]`` names each face's family; writers without one are never
    siblings)."""
    fonts = {f.get("label"): f.get("family", "") for f in data.meta.get("fonts", []) if isinstance(f, dict)}
    unseen = set(data.meta.get("splits", {}).get("unseen_writers", []))
    held = {design_key(fonts[w]) for w in unseen if fonts.get(w)}
    return sorted(w for w, fam in fonts.items() if w not in unseen and fam and design_key(fam) in held)


def split_rows(data: GlyphData, which: str) -> torch.Tensor:
    """Rows of split ``which``: ``SFSC`` (seen writer and char), ``SFUC``, ``UFSC``, ``UFUC``; ``train`` = SFSC."""
    which = {"train": "SFSC"}.get(which, which).upper()
    if which not in ("SFSC", "SFUC", "UFSC", "UFUC"):
        raise GlyphError(f"unknown split '{which}'; use SFSC (train), SFUC, UFSC or UFUC")
    splits = data.meta.get("splits", {})
    mask = torch.ones(len(data), dtype=torch.bool)
    if "writer" in data.labels:
        unseen = torch.tensor([w in set(splits.get("unseen_writers", [])) for w in data.classes["writer"]])
        uw = unseen[data.labels["writer"].cpu()]
        mask &= uw if which[0] == "U" else ~uw
    if "char" in data.labels:
        unseen = torch.tensor([c in set(splits.get("unseen_chars", [])) for c in data.classes["char"]])
        uc = unseen[data.labels["char"].cpu()]
        mask &= uc if which[2] == "U" else ~uc
    return torch.nonzero(mask).flatten()
