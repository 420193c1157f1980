"""glyph-binarize: an example third-party glyph plugin (see docs/plugins/tutorial.md)."""
