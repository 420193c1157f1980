"""Registers the filter method."""

import glyph


@glyph.hookimpl
def glyph_register_methods(register):
    """Register :class:`Filter` by reference: it (and torch) is imported only when the method is used."""
    register("glyph.plugins.filter.method:Filter", name="filter")
