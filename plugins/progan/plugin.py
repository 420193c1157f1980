"""Registers the progan method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`ProGAN` by reference: it (and torch) is imported only when the method is used."""
    register("glyph.plugins.progan.method:ProGAN", name="progan")
