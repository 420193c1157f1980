"""Registers the dsfgan method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`DSFGAN` by reference: it (and torch) is imported only when the method is used."""
    register("glyph.plugins.dsfgan.method:DSFGAN", name="dsfgan")
