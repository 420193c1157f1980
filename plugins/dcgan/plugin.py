"""Registers the dcgan method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`DCGAN` by reference: it (and torch) is imported only when the method is used."""
    register("glyph.plugins.dcgan.method:DCGAN", name="dcgan")
