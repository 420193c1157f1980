"""Registers the dcgan method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`DCGAN`."""
    from .method import DCGAN

    register(DCGAN)
