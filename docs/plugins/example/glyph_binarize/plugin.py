"""Registers the binarize method with glyph."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`Binarize`, with its catalogue entry (third parties pass it here)."""
    from .method import Binarize

    register(
        Binarize,
        summary="Binarise glyph images with Otsu's threshold (pure black ink on white paper)",
        task="post-processing",
        paper="N. Otsu, A threshold selection method from gray-level histograms, 1979",
        status="example",
        presets={"fixed-half": {"threshold": 0.5}},
    )
