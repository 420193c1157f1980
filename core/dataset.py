"""The Dataset role: glyph data in memory, and the formats that read and write it on disk.

Every method trains from a :class:`GlyphData`: all images as one uint8 tensor ``[N, C, H, W]``
(resident on the training device, batches taken by index), integer label columns such as
``char`` and ``writer`` with their class names, and JSON metadata. A :class:`DatasetFormat`
reads one on-disk layout (writers folders, style folders, class folders, a flat folder, a packed
file) into it; formats are registered through ``glyph_register_datasets``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch


@dataclass
class GlyphData:
    """A dataset in memory.

    :param images: uint8 tensor ``[N, C, H, W]``; for glyphs 255 = ink and 0 = paper (files on disk show
        dark ink on white; see docs/usage.md).
    :param labels: column name -> int64 tensor ``[N]`` (e.g. ``char``, ``writer``).
    :param classes: column name -> list of class names, index = label value.
    :param meta: JSON-ready metadata (charset, source, fonts, splits...).
    """

    images: torch.Tensor
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    classes: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"GlyphData.images must be [N, C, H, W], got shape {tuple(self.images.shape)}")
        n = self.images.shape[0]
        for key, col in self.labels.items():
            if col.shape != (n,):
                raise ValueError(f"label column '{key}' has shape {tuple(col.shape)}, expected ({n},)")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """Image height and width."""
        return int(self.images.shape[2]), int(self.images.shape[3])

    @property
    def channels(self) -> int:
        """1 for glyphs, 3 for colour data."""
        return int(self.images.shape[1])

    def to(self, device: Any) -> GlyphData:
        """The same dataset with its tensors on ``device`` (uint8 stays uint8: 4x less memory)."""
        return GlyphData(self.images.to(device), {k: v.to(device) for k, v in self.labels.items()},
                         self.classes, self.meta)

    def subset(self, index: Any) -> GlyphData:
        """Rows ``index`` (a tensor, list or slice) as a new dataset sharing classes and meta."""
        return GlyphData(self.images[index], {k: v[index] for k, v in self.labels.items()}, self.classes,
                         dict(self.meta))

    def label_names(self, column: str) -> list[str]:
        """The class name of every row for label ``column`` (e.g. the character of each image)."""
        names = self.classes[column]
        return [names[i] for i in self.labels[column].tolist()]

    def fingerprint(self) -> str:
        """A short content hash of images and labels, recorded in run folders and caches."""
        import hashlib

        h = hashlib.blake2b(digest_size=12)
        h.update(str(tuple(self.images.shape)).encode())
        h.update(self.images.detach().cpu().contiguous().numpy().tobytes())
        for key in sorted(self.labels):
            h.update(key.encode())
            h.update(self.labels[key].detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()


class DatasetFormat:
    """Base class of an on-disk dataset layout.

    Class attributes: ``name`` (unique, e.g. ``writers``) and ``summary`` (one line).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def detect(self, path: Path) -> bool:
        """True when ``path`` looks like this layout (used to pick a format automatically)."""
        return False

    def read(self, path: Path, **options: Any) -> GlyphData:
        """Read ``path`` into memory; skip bad files and report them, never half-load."""
        raise NotImplementedError(f"{type(self).__name__} must define read()")

    def write(self, data: GlyphData, path: Path) -> None:
        """Write ``data`` in this layout (optional: formats that only read leave this out)."""
        raise NotImplementedError(f"dataset format '{self.name}' can only be read")
