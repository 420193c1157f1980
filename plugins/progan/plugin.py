"""Registers the progan method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`ProGAN`."""
    from .method import ProGAN

    register(ProGAN)
