"""Print the packages of glyph's font corpus (core/data/corpus.toml) that one step of .ci/setup installs.

    python3 .ci/corpus_packages.py apt        Debian packages of the default corpus (`bash .ci/setup`)
    python3 .ci/corpus_packages.py apt-extra  opt-in Debian packages (`bash .ci/setup --corpus-extra`)
    python3 .ci/corpus_packages.py npm-extra  opt-in npm packages as NAME@VERSION (same flag)

The set-up runs this with the system's python3 before glyph is installed, so it reads the file itself.
"""

import sys
import tomllib
from pathlib import Path

WHAT = ("apt", "apt-extra", "npm-extra")


def packages(what: str, manifest: dict) -> list[str]:
    """The sorted, distinct packages of one set-up step."""
    faces = manifest["face"]
    if what == "npm-extra":
        return [f"{name}@{version}" for name, version in sorted(manifest["npm"].items())]
    extra = what == "apt-extra"
    return sorted({f["package"] for f in faces if "package" in f and bool(f.get("extra", False)) == extra})


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in WHAT:
        sys.exit(f"usage: python3 .ci/corpus_packages.py {{{','.join(WHAT)}}}")
    with open(Path(__file__).resolve().parent.parent / "core" / "data" / "corpus.toml", "rb") as fh:
        print("\n".join(packages(sys.argv[1], tomllib.load(fh))))
