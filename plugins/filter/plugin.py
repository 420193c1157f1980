"""Registers the filter method (image in, image out; no training)."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`Filter`."""
    from .method import Filter

    register(Filter)
