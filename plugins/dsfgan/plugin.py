"""Registers the dsfgan method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`DSFGAN`."""
    from .method import DSFGAN

    register(DSFGAN)
