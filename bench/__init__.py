"""glyph's benchmark suite: ``python -m bench [SUITE ...] [--out bench/results]`` from the repository root."""
