"""The Metric role: a number computed from real and generated (or restored) images."""

from __future__ import annotations

from typing import Any, ClassVar


class Metric:
    """Base class of an evaluation metric, registered through ``glyph_register_metrics``.

    Class attributes:
        name: unique, e.g. ``fgd``.
        summary: one line for listings.
        needs: ``"sets"`` (two unpaired sets: FID, KID), ``"pairs"`` (aligned images: SSIM, L1)
            or ``"labels"`` (generated images with the character/style they should show).
        higher_is_better: the direction of improvement, for tables and "best" checkpoints.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    needs: ClassVar[str] = "sets"
    higher_is_better: ClassVar[bool] = False

    def compute(self, real: Any, fake: Any, **context: Any) -> dict[str, float]:
        """Return named numbers (a metric may report several, e.g. ``kid`` and ``kid_std``).

        ``real`` and ``fake`` are :class:`glyph.GlyphData` (float conversion is the metric's);
        ``context`` carries shared resources such as a feature extractor and the device.
        """
        raise NotImplementedError(f"{type(self).__name__} must define compute()")
