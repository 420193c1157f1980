"""Registers the vae method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`VAE` by reference: it (and torch) is imported only when the method is used."""
    register("glyph.plugins.vae.method:VAE", name="vae")
