"""Charset names: a misspelling is an error, a string of characters is a charset."""

import pytest


def test_a_misspelled_charset_name_is_an_error_not_a_string_of_letters():
    from glyph.data.charsets import load_charset
    from glyph.errors import GlyphError

    with pytest.raises(GlyphError, match="did you mean 'gb2312-1'"):
        load_charset("gb2312-l")
    assert load_charset("永和九年").chars == list("永和九年")
