"""Registers the ddpm method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`DDPM`."""
    from .method import DDPM

    register(DDPM)
