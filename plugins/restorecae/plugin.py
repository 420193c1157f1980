"""Registers the restorecae method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`RestoreCAE` by reference: it (and torch) is imported only when the method is used."""
    register("glyph.plugins.restorecae.method:RestoreCAE", name="restorecae")
