"""glyph.interface: a method's help and ``glyph info`` come from its interface.json while that matches the code, so
they appear without importing torch; an edit makes glyph import the method again until the file is rewritten."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap

import pytest

from glyph import interface
from glyph.loader import get_registry

BUILTIN = sorted(n for n, e in get_registry().methods.items() if e.provider.builtin)


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_interface_files_are_current(name):
    entry = get_registry().methods[name]
    assert interface.read(entry.ref) is not None, (
        f"plugins/{name}/interface.json is missing or older than the code; write it with: "
        f"python -m glyph.interface {entry.ref}")
    why = interface.stale(entry.ref, entry.obj)
    assert why is None, why


@pytest.mark.parametrize("name", BUILTIN)
def test_help_from_the_file_is_the_help_from_the_class(name):
    """The command ``glyph run NAME --help`` builds from the file parses exactly as the one built from the class."""
    from glyph.cli.run import build_command

    entry = get_registry().methods[name]

    def shape(command):
        ctx = command.make_context(name, [], resilient_parsing=True)
        return [(p.name, tuple(p.opts), tuple(p.secondary_opts), p.default, p.required, p.is_flag,
                 p.get_help_record(ctx), p.display_type(ctx)) for p in command.params]

    from_file = build_command(entry, interface.read(entry.ref))
    from_class = build_command(entry)
    assert shape(from_file) == shape(from_class)
    assert from_file.help == from_class.help


def test_info_and_every_method_help_import_no_torch():
    """`glyph info METHOD` and `glyph run METHOD --help` of every built-in method, in one process: no torch."""
    code = textwrap.dedent(f"""
        import sys
        from glyph.cli.main import main
        for name in {BUILTIN!r}:
            for argv in (["info", name], ["info", name, "--json"], ["run", name, "--help"]):
                try:
                    main(argv)
                except SystemExit as e:
                    assert not e.code, (argv, e.code)
        print("TORCH" if "torch" in sys.modules else "NO-TORCH", file=sys.stderr)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == "NO-TORCH", proc.stderr[-2000:]
    assert "--refs" in proc.stdout and "config fields" in proc.stdout


METHOD = '''
from dataclasses import dataclass, field
from typing import Annotated, Literal

import glyph


@dataclass
class Config:
    strength: float = field(default=0.5, metadata={{"help": "how hard"}})


class Thing(glyph.Method):
    """A method that only runs."""

    name = "thing"
    Config = Config
    trainable = False
    inputs = {{"input": "images"}}

    def run(self, ctx, *, input: Annotated[str, glyph.Opt("images to read")],
            mode: Annotated[Literal["a", "b"], glyph.Opt("how")] = "a",
            strength: Annotated[float | None, glyph.Opt("how hard")] = None) -> None:
        """{doc}"""
'''


def test_a_changed_package_is_read_from_its_code_until_the_file_is_written_again(tmp_path, monkeypatch):
    pkg = tmp_path / "thingpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "method.py").write_text(METHOD.format(doc="first"))
    monkeypatch.syspath_prepend(str(tmp_path))
    ref = "thingpkg.method:Thing"
    assert interface.read(ref) is None  # no file yet

    (written,) = interface.write([ref])
    assert written == pkg / "interface.json"
    cls = importlib.import_module("thingpkg.method").Thing
    data = interface.read(ref)
    assert data == interface.describe(cls) and interface.stale(ref, cls) is None
    options = {o["name"]: o for o in data["run_options"]}
    assert options["mode"]["choices"] == ["a", "b"] and options["strength"]["config_default"] == 0.5
    assert options["input"]["required"] and data["inputs"] == {"input": "images"}
    specs = interface.run_option_specs(data)
    assert [(s.name, s.flag, s.choices, s.plain_type, s.required) for s in specs] == [
        ("input", "--input", None, str, True), ("mode", "--mode", ["a", "b"], str, False),
        ("strength", "--strength", None, float, False)]

    # Any edit of the package's Python files: the file no longer speaks for the code.
    (pkg / "method.py").write_text(METHOD.format(doc="second"))
    assert interface.read(ref) is None
    assert "python -m glyph.interface thingpkg.method:Thing" in interface.stale(ref, cls)
    interface.write([ref])
    assert interface.read(ref) is not None

    # A file from another layout, a damaged one, or one that is not JSON, is ignored rather than trusted.
    layout = json.loads(written.read_text())
    for damage in ({"run_options": "x"}, {"trainable": "yes"}, {"run_options": [{"name": "seed"}]},
                   {"run_options": [{**data["run_options"][0], "name": "seed"}]}):
        written.write_text(json.dumps({**layout, "classes": {ref: {**layout["classes"][ref], **damage}}}))
        assert interface.read(ref) is None, damage
    written.write_text(json.dumps({**layout, "version": 99}))
    assert interface.read(ref) is None and "layout 99" in interface.stale(ref, cls)
    written.write_text("{not json")
    assert interface.read(ref) is None and interface.stale(ref, cls) is None
    with pytest.raises(ValueError, match=r"package\.module:Class"):
        interface.write(["thingpkg.nowhere:Thing"])
    with pytest.raises(ValueError, match=r"not name a glyph\.Method"):
        interface.write(["thingpkg.method:Config"])
