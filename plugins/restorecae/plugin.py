"""Registers the restorecae method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`RestoreCAE`."""
    from .method import RestoreCAE

    register(RestoreCAE)
