"""Registers the vae method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`VAE`."""
    from .method import VAE

    register(VAE)
