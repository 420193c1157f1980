"""Registers the ddpm method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`DDPM` by reference: it (and torch) is imported only when the method is used."""
    register("glyph.plugins.ddpm.method:DDPM", name="ddpm")
