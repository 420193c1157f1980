"""``python -m glyph`` runs the CLI (also the form torchrun launches: ``torchrun -m glyph ...``)."""

from glyph.cli.main import main

main()
