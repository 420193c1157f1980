"""Registers glyph's built-in dataset layouts (writers, styles, classes, flat, packed)."""

import glyph


@glyph.hookimpl
def glyph_register_datasets(register):
    """Register the layouts of glyph.data.layouts, flat last (it accepts any folder)."""
    from .layouts import FORMATS

    for fmt in FORMATS:
        register(fmt)
