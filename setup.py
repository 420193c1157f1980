"""Package mapping that pyproject.toml cannot express: core/ -> glyph, plugins/ -> glyph.plugins,
cli/ -> glyph.cli, and registry.toml and the model cards (docs/methods/*.md, at the repository root) copied into
the built package."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
MAPPING = {"glyph": "core", "glyph.plugins": "plugins", "glyph.cli": "cli"}


def packages():
    found = []
    for pkg, folder in MAPPING.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder)
            found.append(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    return found


class BuildPy(build_py):
    """Also put registry.toml and the model cards inside the glyph package so installed wheels can read them
    (glyph.catalogue.registry_path, model_card)."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "glyph" / "registry.toml"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "registry.toml", target)
        cards = Path(self.build_lib) / "glyph" / "cards"
        cards.mkdir(exist_ok=True)
        for card in sorted((ROOT / "docs" / "methods").glob("*.md")):
            shutil.copyfile(card, cards / card.name)


setup(packages=packages(), package_dir=MAPPING, cmdclass={"build_py": BuildPy})
