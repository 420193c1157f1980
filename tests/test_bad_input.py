"""Every command over a corpus of bad inputs (issue [2.4] item 7): never a traceback, a hang or a changed input.

The corpus is built once per session in a temporary folder: images that are empty, truncated, random bytes,
decompression bombs, symlink loops, dangling links, FIFOs, devices and unusual modes (16-bit, CMYK, palette,
1-bit, animated, alpha); a corrupt and a truncated ``.safetensors``; a text file named ``.ttf`` and a truncated
real font; binary files, a FIFO and ``/dev/zero`` where a text file belongs; damaged run folders. ``CASES``
runs every leaf command of ``glyph --help`` over it (``test_every_command_has_cases`` keeps that so), and
``NUMBERS`` gives each command's numeric options absurd values (0, -5, 1e9, nan, inf).

A case passes when the command exits 0, 1 or 2 with no ``internal error`` and no traceback, within
``TIMEOUT`` seconds, leaving the corpus byte for byte as it was and writing nothing outside its ``--out``.
The commands run in this process (``glyph.cli.main.main`` with ``GLYPH_DEBUG=1``, so an uncaught exception
surfaces here with its traceback); a few cases that could block run as subprocesses with a timeout.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import BIN, glyph_env

TIMEOUT = 60
REPO = Path(__file__).resolve().parent.parent
DCGAN = REPO / "plugins" / "dcgan" / "default"


# The corpus -----------------------------------------------------------------------------------------------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(width: int, height: int) -> bytes:
    """A few hundred bytes that claim ``width`` x ``height`` 8-bit gray pixels (all zero rows)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4, 9)  # the first rows only: the header is the bomb
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def _glyph_image(size: int = 64, mode: str = "L") -> Image.Image:
    a = np.full((size, size), 255, np.uint8)
    a[size // 4: 3 * size // 4, size // 2 - 3: size // 2 + 3] = 0
    a[size // 2 - 3: size // 2 + 3, size // 4: 3 * size // 4] = 0
    return Image.fromarray(a, "L").convert(mode)


def _font_file(path: Path, family: str, glyph: str = "A") -> Path:
    """A tiny valid TrueType font with one glyph."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    pen = TTGlyphPen(None)
    pen.moveTo((100, 0))
    pen.lineTo((100, 700))
    pen.lineTo((400, 700))
    pen.closePath()
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef", "g"])
    fb.setupCharacterMap({ord(glyph): "g"})
    fb.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "g": pen.glyph()})
    fb.setupHorizontalMetrics({".notdef": (500, 0), "g": (500, 0)})
    fb.setupHorizontalHeader()
    fb.setupNameTable({"familyName": family, "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    fb.save(str(path))
    return path


def _images(root: Path, good: bool) -> None:
    """One folder of images: bad files, and with ``good`` also readable ones in every unusual mode."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    noise = root.parent / "noise.png"
    Image.fromarray(rng.integers(0, 255, (64, 64), np.uint8), "L").save(noise)
    (root / "春.png").write_bytes(b"")                                   # zero bytes
    (root / "之.png").write_bytes(noise.read_bytes()[:700])              # truncated PNG
    (root / "初.jpg").write_bytes(rng.bytes(3000))                       # random bytes named .jpg
    (root / "会.png").write_bytes(_bomb_png(60_000, 60_000))             # decompression bomb
    (root / "于.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)     # a PNG signature and nothing else
    (root / "notimage.png").write_text("this is not an image\n")
    (root / "loop.png").symlink_to("loop.png")                           # a symlink loop
    (root / "dangling.png").symlink_to("gone.png")                       # a dangling symlink
    os.mkfifo(root / "fifo.png")                                         # a FIFO: a read would block
    (root / "dev.png").symlink_to("/dev/zero")                           # a device: a read never ends
    (root / "dir.png").mkdir()                                           # a folder named like an image
    (root / "README.txt").write_text("not an image either")
    noise.unlink()
    if not good:
        return
    _glyph_image().save(root / "永.png")
    _glyph_image(mode="RGBA").save(root / "和.png")                      # RGBA
    frames = [_glyph_image(32), Image.new("L", (32, 32), 255)]
    frames[0].save(root / "九.gif", save_all=True, append_images=frames[1:], duration=50)  # animated GIF
    _glyph_image(mode="CMYK").save(root / "年.jpg")                       # CMYK JPEG
    _glyph_image(mode="P").save(root / "岁.png")                          # palette
    Image.fromarray(np.asarray(_glyph_image(), np.uint16) * 257).save(root / "在.png")  # 16-bit gray
    _glyph_image(mode="1").save(root / "癸.png")                          # 1-bit
    _glyph_image(mode="LA").save(root / "丑.png")                         # gray + alpha
    Image.new("L", (1, 1), 0).save(root / "暮.png")                       # one pixel
    Image.new("L", (20_000, 1), 0).save(root / "山.png")                  # a line 20,000 pixels long


def _run_folder(root: Path, config: object = None, raw: bytes | None = None, weights: bool = False) -> Path:
    root.mkdir(parents=True)
    if raw is not None:
        (root / "config.json").write_bytes(raw)
    elif config is not None:
        (root / "config.json").write_text(json.dumps(config))
    if weights:
        shutil.copytree(DCGAN / "weights", root / "weights")
    return root


def build_corpus(c: Path) -> Path:
    """Write the bad-input corpus under ``c`` (see the module docstring)."""
    rng = np.random.default_rng(1)
    _images(c / "imgs", good=True)
    _images(c / "bad", good=False)
    (c / "empty").mkdir()
    sheet = Image.new("L", (8 * 64, 64), 255)
    for i in range(8):
        sheet.paste(_glyph_image(40), (i * 64 + 12, 12))
    sheet.save(c / "sheet.png")

    w = c / "weights"
    w.mkdir()
    import torch

    from glyph.data.packed import save_packed
    from glyph.dataset import GlyphData

    tiny = GlyphData(torch.zeros(2, 1, 16, 16, dtype=torch.uint8),
                     {"char": torch.tensor([0, 1]), "writer": torch.tensor([0, 0])},
                     {"char": ["永", "和"], "writer": ["w"]}, {"ink": "glyph"})
    save_packed(tiny, w / "tiny.safetensors")  # valid: for the absurd numbers of commands that read data
    good = (w / "tiny.safetensors").read_bytes()
    (w / "trunc.safetensors").write_bytes(good[: len(good) // 2])
    (w / "corrupt.safetensors").write_bytes(rng.bytes(4096))
    (w / "zero.safetensors").write_bytes(b"")
    (w / "header.safetensors").write_bytes(struct.pack("<Q", 2**62) + b"{}")  # a header length of 4 EiB
    (w / "corrupt.safetensors.gz").write_bytes(rng.bytes(4096))

    f = c / "fonts"
    f.mkdir()
    (f / "notafont.ttf").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (f / "zero.otf").write_bytes(b"")
    real = _font_file(f / "real.ttf", "Corpus Real")
    (f / "trunc.ttf").write_bytes(real.read_bytes()[:300])
    real.unlink()
    os.mkfifo(f / "fifo.ttf")

    b = c / "bin"
    b.mkdir()
    (b / "binary.bin").write_bytes(rng.bytes(2048) + b"\0\xff\xfe")
    (b / "empty.txt").write_bytes(b"")
    (b / "utf16.txt").write_bytes("永和九年".encode("utf-16"))
    os.mkfifo(b / "fifo")
    (b / "zero").symlink_to("/dev/zero")

    config = json.loads((DCGAN / "config.json").read_text())
    r = c / "runs"
    _run_folder(r / "list", [1, 2])
    _run_folder(r / "null", None, raw=b"null")
    _run_folder(r / "string", {**config, "config": "x"}, weights=True)
    _run_folder(r / "train-string", {**config, "train": "x", "data": "x"}, weights=True)
    _run_folder(r / "no-method", {k: v for k, v in config.items() if k != "method"})
    _run_folder(r / "unknown-method", {**config, "method": "nosuch"})
    _run_folder(r / "bad-json", raw=b'{"method": "dcg')
    _run_folder(r / "binary", raw=rng.bytes(512))
    _run_folder(r / "absurd", {**config, "config": {**config["config"], "z_dim": 10**9}}, weights=True)
    _run_folder(r / "nan", {**config, "config": {**config["config"], "lr": float("nan"), "steps": -5}},
                weights=True)
    _run_folder(r / "no-weights", config)
    bad_weights = _run_folder(r / "bad-weights", config)
    (bad_weights / "weights").mkdir()
    (bad_weights / "weights" / "G.ema.safetensors").write_bytes(rng.bytes(1024))
    latest = _run_folder(r / "binary-latest", config, weights=True)
    (latest / "checkpoints").mkdir()
    (latest / "checkpoints" / "LATEST").write_bytes(rng.bytes(64) + b"\0../../..")
    loop = _run_folder(r / "loop")
    (loop / "config.json").symlink_to("config.json")
    fifo = _run_folder(r / "fifo")
    os.mkfifo(fifo / "config.json")
    (r / "empty").mkdir()
    (r / "file").write_text("a file where a run folder belongs")
    return c


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(autouse=True, scope="module")
def bounded_memory():
    """At most 10 GB of address space while the corpus runs: an unbounded allocation fails here, not the host."""
    old = resource.getrlimit(resource.RLIMIT_AS)
    cap = 10 << 30 if old[0] == resource.RLIM_INFINITY else min(old[0], 10 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, old[1]))
    yield
    resource.setrlimit(resource.RLIMIT_AS, old)


_HASHES: dict[tuple, str] = {}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (not following links): kind, mode, size, mtime and a hash of a file's bytes."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                found[str(p)] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                if key not in _HASHES:  # hashed once while unchanged: the weights are megabytes
                    _HASHES[key] = hashlib.sha256(p.read_bytes()).hexdigest()
                found[str(p)] = ("file", st.st_mode, st.st_size, st.st_mtime_ns, _HASHES[key])
            else:
                found[str(p)] = ("other", st.st_mode, st.st_mtime_ns)
    return found


# The table: (argv with {c} = corpus and {o} = this case's output folder, not yet there) ------------------

CASES: list[list[str]] = [
    # listings
    ["list", "--json"],
    ["info", "nosuch"],
    ["info", "../../etc/passwd"],
    ["info", ""],
    ["plugins", "--all", "--json"],
    # train
    ["train", "dcgan", "--data", "{c}/bad", "--out", "{o}/run", "--steps", "1"],
    ["train", "dcgan", "--data", "{c}/empty", "--out", "{o}/run", "--steps", "1"],
    ["train", "dcgan", "--data", "{c}/weights/corrupt.safetensors", "--out", "{o}/run", "--steps", "1"],
    ["train", "dcgan", "--data", "{c}/weights/trunc.safetensors", "--out", "{o}/run", "--steps", "1"],
    ["train", "dcgan", "--data", "{c}/weights/header.safetensors", "--out", "{o}/run", "--steps", "1"],
    ["train", "dcgan", "--data", "{c}/weights/corrupt.safetensors.gz", "--out", "{o}/run", "--steps", "1"],
    ["train", "dcgan", "--data", "embedded", "--config", "{c}/bin/binary.bin", "--out", "{o}/run"],
    ["train", "dcgan", "--data", "embedded", "--config", "{c}/bin/empty.txt", "--out", "{o}/run", "--steps", "0"],
    ["train", "dcgan", "--data", "embedded", "--config", "{c}/runs/list/config.json", "--out", "{o}/run"],
    ["train", "dcgan", "--data", "embedded", "--out", "{c}/runs/list", "--resume"],
    ["train", "dcgan", "--data", "embedded", "--out", "{c}/runs/null", "--resume"],
    ["train", "dcgan", "--out", "{c}/runs/string", "--resume"],
    ["train", "dcgan", "--out", "{c}/runs/train-string", "--resume"],
    ["train", "dcgan", "--out", "{c}/runs/binary-latest", "--resume"],
    ["train", "dcgan", "--out", "{c}/runs/nan", "--resume"],
    ["train", "dcgan", "--out", "{c}/runs/bad-json", "--resume"],
    ["train", "dcgan", "--data", "embedded", "--out", "{c}/runs/file"],
    ["train", "dcgan", "--data", "embedded", "--out", "{o}/run", "--set", "z_dim=1000000000", "--steps", "1"],
    ["train", "dcgan", "--data", "embedded", "--out", "{o}/run", "--set", "batch=1000000000", "--steps", "1"],
    ["train", "nosuch", "--data", "embedded", "--out", "{o}/run"],
    ["train", "filter", "--data", "embedded", "--out", "{o}/run"],
    # export
    *[["export", f"{{c}}/runs/{run}", "--out", "{o}/slim"] for run in (
        "list", "null", "string", "no-method", "unknown-method", "bad-json", "binary", "absurd", "no-weights",
        "bad-weights", "binary-latest", "loop", "empty", "file", "nosuch")],
    ["export", "{c}/runs/binary-latest", "--out", "{o}/slim", "--checkpoint", "../../.."],
    ["export", "{c}/runs/binary-latest", "--out", "{o}/slim", "--checkpoint", "best"],
    # run: the generators, over damaged run folders and absurd options
    *[["run", m, "--weights", f"{{c}}/runs/{run}", "--n", "1", "--out", "{o}/x.png"]
      for m in ("dcgan", "ddpm", "progan", "vae")
      for run in ("list", "null", "string", "binary", "absurd", "no-weights", "bad-weights", "loop", "file")],
    ["run", "dcgan", "--n", "1000000", "--out", "{o}/x.png"],
    ["run", "dcgan", "--interpolate", "2", "--frames", "2000000000", "--out", "{o}/walk.gif"],
    ["run", "dcgan", "--n", "1", "--out", "{o}/newdir/"],
    ["run", "dcgan", "--n", "1", "--out", "{o}/x.png", "--device", "cuda:99"],
    ["run", "ddpm", "--n", "1", "--steps", "1000000000", "--out", "{o}/x.png"],
    ["run", "ddpm", "--n", "1", "--eta", "nan", "--out", "{o}/x.png"],
    ["run", "ddpm", "--n", "1", "--sampler", "nosuch", "--out", "{o}/x.png"],
    ["run", "progan", "--interpolate", "1000000000", "--out", "{o}/walk.gif"],
    ["run", "vae", "--reconstruct", "{c}/imgs", "--out", "{o}/x.png"],
    ["run", "vae", "--reconstruct", "{c}/bad", "--out", "{o}/x.png"],
    ["run", "vae", "--reconstruct", "{c}/weights/trunc.safetensors", "--out", "{o}/x.png"],
    # run dsfgan: references, character files and saved writers
    ["run", "dsfgan", "--refs", "{c}/bad", "--text", "永", "--out", "{o}/d"],
    ["run", "dsfgan", "--refs", "{c}/imgs", "--text", "永", "--out", "{o}/d", "--n-refs", "0"],
    ["run", "dsfgan", "--refs", "{c}/imgs/永.png", "--text", "永", "--out", "{o}/d"],
    ["run", "dsfgan", "--refs", "{c}/imgs", "--chars-file", "{c}/bin/binary.bin", "--out", "{o}/d"],
    ["run", "dsfgan", "--refs", "{c}/imgs", "--chars-file", "{c}/bin/empty.txt", "--out", "{o}/d"],
    ["run", "dsfgan", "--refs", "{c}/imgs", "--chars-file", "{c}/bin/zero", "--out", "{o}/d"],
    ["run", "dsfgan", "--refs", "{c}/imgs", "--charset", "{c}/bin/binary.bin", "--out", "{o}/d"],
    ["run", "dsfgan", "--writer", "{c}/runs/list", "--text", "永", "--out", "{o}/d"],
    ["run", "dsfgan", "--writer", "{c}/runs/bad-weights", "--text", "永", "--out", "{o}/d"],
    ["run", "dsfgan", "--refs", "{c}/imgs", "--text", "永", "--out", "{o}/d", "--font", "{o}/f.woff"],
    ["run", "dsfgan", "--refs", "{c}/imgs", "--text", "永", "--out", "{o}/d", "--columns", "0"],
    ["run", "dsfgan", "--refs", "{c}/imgs", "--text", "永", "--out", "{c}/imgs"],
    # run filter: every image of the corpus, one by one and as a folder
    ["run", "filter", "--input", "{c}/imgs", "--out", "{o}/f"],
    ["run", "filter", "--input", "{c}/bad", "--out", "{o}/f"],
    ["run", "filter", "--input", "{c}/imgs", "--out", "{c}/imgs/filtered"],
    ["run", "filter", "--input", "{c}/imgs/九.gif", "--out", "{o}/x.png"],
    ["run", "filter", "--input", "{c}/imgs/和.png", "--out", "{o}/x.jpg"],
    ["run", "filter", "--input", "{c}/imgs/永.png", "--out", "{o}/newdir/"],
    ["run", "filter", "--input", "{c}/imgs/永.png", "--out", "{o}/x.png", "--threshold", "nan"],
    *[["run", "filter", "--input", f"{{c}}/imgs/{name}", "--out", "{o}/x.png"] for name in (
        "春.png", "之.png", "初.jpg", "会.png", "于.png", "notimage.png", "loop.png", "dangling.png", "fifo.png",
        "dev.png", "dir.png", "年.jpg", "岁.png", "在.png", "癸.png", "丑.png", "暮.png", "山.png", "nosuch.png")],
    # run restorecae
    ["run", "restorecae", "--input", "{c}/imgs", "--out", "{o}/r"],
    ["run", "restorecae", "--input", "{c}/bad", "--out", "{o}/r"],
    ["run", "restorecae", "--input", "{c}/imgs/会.png", "--out", "{o}/r"],
    ["run", "restorecae", "--input", "{c}/imgs/永.png", "--out", "{o}/r", "--chars", "永和"],
    ["run", "restorecae", "--input", "{c}/imgs/永.png", "--out", "{o}/r", "--clean", "{c}/bad", "--compare",
     "{o}/c.png"],
    ["run", "restorecae", "--input", "{c}/imgs/永.png", "--out", "{o}/r", "--weights", "{c}/runs/string"],
    ["run", "restorecae", "--input", "{c}/imgs", "--out", "{c}/imgs/restored"],
    # data
    ["data", "fonts", "--font", "{c}/fonts/notafont.ttf", "--json"],
    ["data", "fonts", "--font", "{c}/fonts/trunc.ttf", "--json"],
    ["data", "fonts", "--font", "{c}/fonts/zero.otf"],
    ["data", "fonts", "--font", "{c}/fonts/fifo.ttf"],
    ["data", "render", "--fonts", "{c}/fonts/trunc.ttf", "--charset", "永", "--out", "{o}/r.safetensors"],
    ["data", "render", "--fonts", "{c}/fonts/notafont.ttf", "--charset", "永", "--out", "{o}/r.safetensors"],
    ["data", "render", "--fonts", "{c}/fonts/fifo.ttf", "--charset", "永", "--out", "{o}/r.safetensors"],
    ["data", "render", "--fonts", "{c}/fonts/trunc.ttf:99", "--charset", "永", "--out", "{o}/r"],
    ["data", "render", "--charset", "{c}/bin/binary.bin", "--out", "{o}/r.safetensors"],
    ["data", "render", "--charset", "{c}/bin/fifo", "--out", "{o}/r.safetensors"],
    ["data", "render", "--charset", "{c}/bin/zero", "--out", "{o}/r.safetensors"],
    ["data", "render", "--charset", "{c}/bin/empty.txt", "--out", "{o}/r.safetensors"],
    ["data", "render", "--charset", "永", "--margin", "nan", "--out", "{o}/r.safetensors"],
    ["data", "render", "--charset", "永", "--margin", "5", "--out", "{o}/r.safetensors"],
    ["data", "render", "--charset", "永", "--unseen-chars", "2", "--out", "{o}/r.safetensors"],
    ["data", "render", "--charset", "永", "--unseen-writers", "-1", "--out", "{o}/r.safetensors"],
    ["data", "render", "--charset", "永", "--layout", "nosuch", "--out", "{o}/r"],
    ["data", "synth", "--writers", "1", "--charset", "永", "--strokes", "{c}/bad", "--out", "{o}/s.safetensors"],
    ["data", "synth", "--writers", "1", "--charset", "永", "--strokes", "{c}/bin/binary.bin", "--out",
     "{o}/s.safetensors"],
    ["data", "synth", "--writers", "1000000000", "--charset", "永", "--out", "{o}/s.safetensors"],
    ["data", "synth", "--writers", "1", "--charset", "{c}/bin/binary.bin", "--out", "{o}/s.safetensors"],
    ["data", "pack", "{c}/imgs", "{o}/p.safetensors"],
    ["data", "pack", "{c}/bad", "{o}/p.safetensors"],
    ["data", "pack", "{c}/empty", "{o}/p.safetensors"],
    ["data", "pack", "{c}/imgs", "{o}/p.safetensors", "--layout", "flat", "--channels", "3"],
    *[["data", "pack", f"{{c}}/weights/{name}", "{o}/p.safetensors"] for name in (
        "trunc.safetensors", "corrupt.safetensors", "zero.safetensors", "header.safetensors",
        "corrupt.safetensors.gz")],
    ["data", "pack", "{c}/weights/trunc.safetensors", "{c}/weights/trunc.safetensors"],
    ["data", "merge", "{c}/weights/corrupt.safetensors", "embedded", "--out", "{o}/m.safetensors"],
    ["data", "merge", "{c}/imgs", "{c}/bad", "--out", "{o}/m.safetensors"],
    ["data", "merge", "embedded", "embedded", "--out", "{c}/weights/trunc.safetensors"],
    ["data", "show", "{c}/imgs", "--out", "{o}/s.png"],
    ["data", "show", "{c}/bad", "--out", "{o}/s.png"],
    ["data", "show", "{c}/weights/trunc.safetensors", "--out", "{o}/s.png"],
    ["data", "show", "{c}/imgs/永.png", "--out", "{o}/s.png"],
    ["data", "show", "embedded", "--out", "{o}/s.png", "--writer", "../../x"],
    ["data", "refs", "{c}/imgs", "--out", "{o}/r"],
    ["data", "refs", "{c}/bad", "--out", "{o}/r"],
    ["data", "refs", "{c}/imgs/永.png", "--out", "{o}/r"],
    ["data", "refs", "{c}/imgs", "--out", "{c}/imgs"],
    ["data", "sheet", "{c}/sheet.png", "--text", "永和九年岁在癸/", "--out", "{o}/s"],
    ["data", "sheet", "{c}/sheet.png", "--text", "永和九年岁在癸/", "--out", "{o}/s", "--grid", "0x0"],
    ["data", "sheet", "{c}/sheet.png", "--text", "永和", "--out", "{o}/s", "--grid", "1000000x1000000"],
    ["data", "sheet", "{c}/sheet.png", "--text", "", "--out", "{o}/s"],
    ["data", "sheet", "{c}/imgs/永.png", "--out", "{o}/s"],  # no --text: not a glyph writing sheet
    ["data", "sheet", "{c}/sheet.png", "{c}/sheet.png", "--text", "永", "--out", "{o}/s"],
    ["data", "sheet-template", "--n", "0", "--out", "{o}/s.pdf"],
    ["data", "sheet-template", "--n", "64", "--out", "{o}/s.svg"],
    ["data", "sheet-template", "--charset", "big5", "--out", "{o}/s.pdf"],
    ["data", "sheet-template", "--out", "{c}/imgs"],
    ["data", "geometry", "{c}/bad"],
    ["data", "geometry", "{c}/imgs/永.png"],
    ["data", "geometry", "{c}/no-such-folder"],
    *[["data", "sheet", f"{{c}}/imgs/{name}", "--text", "永", "--out", "{o}/s"] for name in (
        "春.png", "之.png", "初.jpg", "会.png", "loop.png", "fifo.png", "dev.png", "dir.png", "九.gif", "暮.png",
        "山.png")],
    ["data", "damage", "embedded", "--out", "{o}/d", "--n", "-1"],
    ["data", "damage", "embedded", "--out", "{o}/d", "--n", "2", "--strength", "1e9"],
    ["data", "damage", "embedded", "--out", "{o}/d", "--n", "2", "--k", "1000000000"],
    ["data", "damage", "{c}/weights/corrupt.safetensors", "--out", "{o}/d"],
    ["data", "damage", "{c}/imgs", "--out", "{o}/d", "--template-font", "{c}/fonts/trunc.ttf"],
    ["data", "damage", "embedded", "--out", "{o}/d", "--n", "2", "--template-font", "{c}/fonts/notafont.ttf"],
    # font
    ["font", "build", "{c}/imgs", "--name", "x", "--out", "{o}/f.otf"],
    ["font", "build", "{c}/bad", "--name", "x", "--out", "{o}/f.ttf"],
    ["font", "build", "{c}/imgs", "--name", "", "--out", "{o}/f.otf"],
    ["font", "build", "{c}/imgs", "--name", "../../x", "--style", "\x00", "--out", "{o}/f.otf"],
    ["font", "build", "{c}/empty", "--name", "x", "--out", "{o}/f.otf"],
    ["font", "show", "{c}/fonts/trunc.ttf", "--text", "永", "--out", "{o}/s.png"],
    ["font", "show", "{c}/fonts/notafont.ttf", "--text", "永", "--out", "{o}/s.png"],
    ["font", "show", "{c}/fonts/zero.otf", "--text", "永", "--out", "{o}/s.png"],
    ["font", "show", "{c}/fonts/fifo.ttf", "--text", "永", "--out", "{o}/s.png"],
    ["font", "install", "{c}/fonts/trunc.ttf"],
    # glyph studio: every case fails before it would serve
    ["serve", "--host", "no such host"],
    ["serve", "--host", "999.1.1.1"],
    ["serve", "--port", "-1"],
    ["serve", "--port", "70000"],
    ["serve", "--port", "eighty"],
    ["font", "install", "{c}/fonts/notafont.ttf"],
    ["font", "install", "{c}/fonts/fifo.ttf"],
    ["font", "install", "{c}/bin/zero"],
    # eval
    ["eval", "--real", "{c}/imgs", "--fake", "{c}/bad", "--metrics", "l1"],
    ["eval", "--real", "{c}/weights/trunc.safetensors", "--fake", "embedded"],
    ["eval", "--real", "embedded", "--fake", "run:{c}/runs/list"],
    ["eval", "--real", "embedded", "--fake", "run:{c}/runs/bad-weights", "--n", "2"],
    ["eval", "--real", "embedded", "--fake", "run:dcgan", "--n", "-5", "--metrics", "l1"],
    ["eval", "--real", "embedded", "--fake", "run:dcgan", "--n", "1000000000", "--metrics", "l1"],
    ["eval", "--real", "embedded", "--fake", "embedded", "--metrics", "nosuch"],
    ["eval", "--real", "embedded", "--fake", "embedded", "--judge", "{c}/runs/list", "--metrics", "content_acc"],
    ["eval", "--real", "embedded", "--fake", "embedded", "--inception-weights", "{c}/weights/corrupt.safetensors",
     "--metrics", "inception_fid"],
    ["eval", "fit-judge", "--data", "{c}/weights/corrupt.safetensors", "--out", "{o}/j"],
    ["eval", "fit-judge", "--data", "{c}/imgs", "--out", "{o}/j"],
    ["eval", "fit-judge", "--out", "{c}/runs/list", "--resume", "--data", "embedded"],
    ["eval", "fit-judge", "--out", "{c}/runs/file", "--data", "embedded"],
    ["eval", "fewshot", "--data", "{c}/weights/corrupt.safetensors", "--weights", "{c}/runs/null"],
    ["eval", "fewshot", "--data", "embedded", "--weights", "{c}/runs/bad-weights"],
    ["eval", "fewshot", "--data", "embedded", "--refs", "0,-5"],
    ["eval", "fewshot", "--data", "embedded", "--per-writer", "0"],
    ["eval", "fewshot", "--data", "embedded", "--adapt-steps", "0", "--adapt"],
    ["eval", "restore", "--data", "{c}/weights/corrupt.safetensors", "--weights", "{c}/runs/list"],
    ["eval", "restore", "--data", "embedded", "--weights", "{c}/runs/string"],
    ["eval", "restore", "--data", "embedded", "--k", "0"],
    ["eval", "restore", "--data", "embedded", "--strength", "nan"],
]

# For the absurd numbers: per command, an invocation that is cheap, and fails early where valid input would
# start real work (a damaged run folder, a truncated dataset) so a legitimately large number cannot hang.
NUMBER_BASES: dict[str, list[str]] = {
    "train": ["train", "dcgan", "--data", "{c}/weights/trunc.safetensors", "--out", "{o}/run"],
    "export": ["export", "{c}/runs/binary-latest", "--out", "{o}/slim"],
    "run dcgan": ["run", "dcgan", "--n", "1", "--out", "{o}/x.png"],
    "run ddpm": ["run", "ddpm", "--n", "1", "--steps", "1", "--out", "{o}/x.png"],
    "run progan": ["run", "progan", "--n", "1", "--out", "{o}/x.png"],
    "run vae": ["run", "vae", "--n", "1", "--out", "{o}/x.png"],
    "run dsfgan": ["run", "dsfgan", "--refs", "{c}/bad", "--text", "永", "--out", "{o}/d"],
    "run filter": ["run", "filter", "--input", "{c}/imgs/永.png", "--out", "{o}/x.png"],
    "run restorecae": ["run", "restorecae", "--input", "{c}/imgs/会.png", "--out", "{o}/r"],
    "data render": ["data", "render", "--fonts", "{c}/fonts/trunc.ttf", "--charset", "永", "--out", "{o}/r"],
    "data synth": ["data", "synth", "--charset", "永", "--strokes", "{c}/empty", "--out", "{o}/s"],
    "data pack": ["data", "pack", "{c}/weights/trunc.safetensors", "{o}/p.safetensors"],
    "data show": ["data", "show", "{c}/weights/tiny.safetensors", "--out", "{o}/s.png"],
    "data refs": ["data", "refs", "{c}/imgs", "--out", "{o}/r"],
    "data sheet": ["data", "sheet", "{c}/sheet.png", "--text", "永和九年岁在癸/", "--out", "{o}/s"],
    "data sheet-template": ["data", "sheet-template", "--out", "{o}/s.pdf"],
    "data damage": ["data", "damage", "{c}/weights/tiny.safetensors", "--template-font", "none", "--out", "{o}/d"],
    "font build": ["font", "build", "{c}/imgs", "--name", "x", "--out", "{o}/f.otf"],
    "serve": ["serve", "--host", "not-an-address"],  # (--port 0 would serve: the bad host stops it first)
    "font show": ["font", "show", "{c}/fonts/trunc.ttf", "--text", "永", "--out", "{o}/s.png"],
    "eval": ["eval", "--real", "{c}/weights/trunc.safetensors", "--fake", "embedded", "--metrics", "l1"],
    "eval fit-judge": ["eval", "fit-judge", "--data", "{c}/weights/trunc.safetensors", "--out", "{o}/j"],
    "eval fewshot": ["eval", "fewshot", "--data", "{c}/weights/trunc.safetensors", "--weights",
                     "{c}/runs/bad-weights"],
    "eval restore": ["eval", "restore", "--data", "{c}/weights/trunc.safetensors", "--weights",
                     "{c}/runs/bad-weights"],
}
ABSURD_INT = ("0", "-5", "1000000000")
ABSURD_FLOAT = ("0", "-5", "1e9", "nan", "inf")


def _app():
    import typer

    from glyph.cli.main import build_app

    return typer.main.get_command(build_app())


@functools.cache
def leaf_commands() -> dict[str, object]:
    """Every command a user can run, by its path (``data render``); a group that runs itself counts too."""
    from typer.core import TyperGroup

    found: dict[str, object] = {}

    def walk(cmd, path: str, ctx) -> None:
        if hasattr(cmd, "list_commands"):  # a group (Typer vendors its own click: no isinstance)
            if cmd.invoke_without_command and path:
                found[path] = cmd
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if path == "run":  # built only when run: build it to see its options
                    from glyph.cli.run import build_command
                    from glyph.loader import get_registry

                    sub = build_command(get_registry().methods[name])
                walk(sub, f"{path} {name}".strip(), type(ctx)(sub, parent=ctx, info_name=name))
        else:
            found[path] = cmd

    root = _app()
    assert isinstance(root, TyperGroup)
    walk(root, "", root.make_context("glyph", [], resilient_parsing=True))
    return found


def command_of(argv: list[str]) -> str:
    """The command path an argv runs (``["data", "render", "--out", "x"]`` -> ``data render``)."""
    names = set(leaf_commands())
    path = ""
    for token in argv:
        if token.startswith("-"):
            break
        longer = f"{path} {token}".strip()
        if not any(n == longer or n.startswith(longer + " ") for n in names):
            break
        path = longer
    return path


def number_cases() -> list[list[str]]:
    """Each numeric option of each command with a base in NUMBER_BASES, given each absurd value."""
    cases = []
    for path, cmd in leaf_commands().items():
        for flag, values in _numeric_options(cmd) if path in NUMBER_BASES else ():
            cases.extend([*NUMBER_BASES[path], flag, v] for v in values)
    return cases


def _numeric_options(cmd) -> list[tuple[str, tuple[str, ...]]]:
    """``(--flag, absurd values)`` for each int or float option of a click command."""
    found = []
    for p in cmd.params:
        if p.param_type_name == "option" and not p.is_flag and not p.multiple:
            values = {"int": ABSURD_INT, "float": ABSURD_FLOAT}.get(p.bare_type())
            flag = max(p.opts, key=len)
            if values:
                found.append((flag, ("-5",) if flag.endswith("seed") else values))  # any other seed is a seed
    return found


# Running a case ---------------------------------------------------------------------------------------------

class Hang(BaseException):
    """Raised by the alarm in a command that runs past TIMEOUT (a BaseException: glyph's handlers pass it on)."""


def invoke(argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """``glyph ARGV`` in this process -> (exit code, stdout + stderr); a hang or uncaught exception fails."""
    from glyph.cli import console
    from glyph.cli.main import main

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("GLYPH_DEBUG", "1")  # an unexpected exception propagates here, with its traceback
    monkeypatch.setattr(console, "STATE", console.State())

    def alarm(*_):
        raise Hang(f"glyph {' '.join(argv)} ran past {TIMEOUT} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(TIMEOUT)
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def check_case(argv_template: list[str], corpus: Path, tmp_path: Path, monkeypatch, capsys,
               env: dict[str, str] | None = None) -> tuple[int, str]:
    work = tmp_path / "work"
    out = work / "out"
    work.mkdir()
    monkeypatch.chdir(work)  # relative defaults (runs/METHOD, restored/) would land here: outside {o}
    monkeypatch.setenv("HOME", str(work / "home"))
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v.replace("{o}", str(out)))
    argv = [a.replace("{c}", str(corpus)).replace("{o}", str(out)) for a in argv_template]
    before_corpus, before_tmp = snapshot(corpus), snapshot(tmp_path)
    try:
        code, text = invoke(argv, monkeypatch, capsys)
    finally:
        changed = snapshot(corpus) != before_corpus
        if changed:  # build it again so that the cases after this one see the corpus as it should be
            shutil.rmtree(corpus)
            build_corpus(corpus)
    assert code in (0, 1, 2), f"exit code {code}:\n{text}"
    assert "internal error" not in text and "Traceback" not in text, text
    assert not changed, f"the corpus changed:\n{text}"
    after = snapshot(tmp_path)
    outside = sorted(p for p, v in after.items() if before_tmp.get(p) != v and not Path(p).is_relative_to(out)
                     and p != str(work))
    assert not outside, f"written outside {out}: {outside}\n{text}"
    return code, text


@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a)[:80])
def test_bad_input(argv, corpus, tmp_path, monkeypatch, capsys):
    check_case(argv, corpus, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("argv", number_cases(), ids=lambda a: " ".join(a[:2] + a[-2:]))
def test_absurd_numbers(argv, corpus, tmp_path, monkeypatch, capsys):
    check_case(argv, corpus, tmp_path, monkeypatch, capsys)


def test_every_command_has_cases():
    """A new command (or method) without corpus cases fails here: add it to CASES (and NUMBER_BASES)."""
    leaves = leaf_commands()
    assert {"list", "run dcgan", "data render", "eval", "eval fit-judge", "font install"} <= set(leaves)
    covered = {command_of(a) for a in CASES}
    assert sorted(set(leaves) - covered) == [], "commands without bad-input cases"
    assert sorted(covered - set(leaves)) == [], "cases naming no command"
    with_numbers = {path for path, cmd in leaves.items() if _numeric_options(cmd)}
    assert sorted(with_numbers - set(NUMBER_BASES)) == [], "commands with numeric options but no NUMBER_BASES"


# Cases that could block: in a subprocess, killed after TIMEOUT ----------------------------------------------

@pytest.mark.parametrize("argv", [
    ["train", "dcgan", "--data", "embedded", "--config", "{c}/bin/fifo", "--out", "{o}/run"],
    ["train", "dcgan", "--data", "embedded", "--config", "{c}/bin/zero", "--out", "{o}/run"],
    ["run", "dsfgan", "--refs", "{c}/imgs", "--chars-file", "{c}/bin/fifo", "--out", "{o}/d"],
    ["export", "{c}/runs/fifo", "--out", "{o}/slim"],
], ids=lambda a: " ".join(a[:2] + a[-4:-2]))
def test_no_hang_on_fifos_and_devices(argv, corpus, tmp_path):
    """A FIFO blocks a read and /dev/zero never ends: in a subprocess with a timeout and at most 4 GB memory."""
    out = tmp_path / "out"
    before = snapshot(corpus)
    cmd = [str(BIN / "glyph"), *(a.replace("{c}", str(corpus)).replace("{o}", str(out)) for a in argv)]

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=glyph_env(), timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL, preexec_fn=cap_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"glyph {' '.join(argv)} hung (more than {TIMEOUT} s)")
    text = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1, 2) and "internal error" not in text and "Traceback" not in text, text
    assert snapshot(corpus) == before



# The issue's examples, with what each must do ---------------------------------------------------------------

@pytest.mark.parametrize(("argv", "code", "needle"), [
    (["run", "dcgan", "--n", "1000000", "--out", "{o}/x.png"], 1, "--n must be between"),
    (["run", "dcgan", "--interpolate", "2", "--frames", "2000000000", "--out", "{o}/w.gif"], 1, "frames"),
    (["data", "damage", "embedded", "--out", "{o}/d", "--strength", "1e9"], 1, "strength"),
    (["data", "damage", "embedded", "--out", "{o}/d", "--n", "-1"], 1, "--n"),
    (["data", "render", "--charset", "永", "--unseen-chars", "2", "--out", "{o}/r"], 1, "--unseen-chars"),
    (["data", "render", "--charset", "永", "--unseen-writers", "-1", "--out", "{o}/r"], 1, "--unseen-writers"),
    (["data", "render", "--fonts", "{c}/fonts/trunc.ttf", "--charset", "永", "--out", "{o}/r"], 1, "trunc.ttf"),
    (["run", "dcgan", "--n", "1", "--out", "{o}/newdir/"], 1, "no image suffix"),
    (["run", "filter", "--input", "{c}/imgs/永.png", "--out", "{o}/newdir/"], 1, "no image suffix"),
    (["data", "show", "embedded", "--n", "1", "--out", "{o}/newdir/"], 1, "image file name"),
    (["font", "show", "{c}/fonts/trunc.ttf", "--text", "永", "--out", "{o}/newdir/"], 1, "image file name"),
    (["run", "filter", "--input", "{c}/imgs/九.gif", "--out", "{o}/x.png"], 0, "only the first frame"),
    (["run", "filter", "--input", "{c}/imgs/和.png", "--out", "{o}/x.jpg"], 0, "transparency was dropped"),
], ids=lambda a: " ".join(a[:3]) if isinstance(a, list) else None)
def test_issue_examples(argv, code, needle, corpus, tmp_path, monkeypatch, capsys):
    got, text = check_case(argv, corpus, tmp_path, monkeypatch, capsys)
    assert got == code and needle in text, text
    lines = [line for line in text.splitlines() if needle in line]
    assert len(lines) == 1, text  # one line says it
    assert not (tmp_path / "work" / "out" / "newdir").is_file()


def test_sheet_with_a_slash_writes_only_inside_out(corpus, tmp_path, monkeypatch, capsys):
    code, text = check_case(["data", "sheet", "{c}/sheet.png", "--text", "永和九年岁在癸/", "--out", "{o}/s"], corpus,
                            tmp_path, monkeypatch, capsys)
    written = sorted(p.name for p in (tmp_path / "work" / "out" / "s").iterdir())
    assert code == 0 and len(written) == 8 and "U+002F.png" in written, text


def test_font_install_keeps_a_different_font_and_never_writes_through_a_link(tmp_path, monkeypatch):
    from glyph.errors import GlyphError
    from glyph.font import install_font

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("shutil.which", lambda _: None)  # no fc-cache in a test
    fonts = tmp_path / "home" / ".local" / "share" / "fonts"
    fonts.mkdir(parents=True)
    (tmp_path / "mine").mkdir()
    mine = _font_file(tmp_path / "mine" / "hand.ttf", "Mine")
    other = _font_file(tmp_path / "hand.ttf", "Other", "B")
    shutil.copyfile(other, fonts / "hand.ttf")
    with pytest.raises(GlyphError, match="--force"):
        install_font(mine)
    assert (fonts / "hand.ttf").read_bytes() == other.read_bytes()
    assert install_font(mine, force=True).read_bytes() == mine.read_bytes()
    assert install_font(mine) == fonts / "hand.ttf"  # the same font again: nothing to do
    (fonts / "hand.ttf").unlink()
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (fonts / "hand.ttf").symlink_to(victim)
    dest = install_font(mine)
    assert victim.read_text() == "keep me" and not dest.is_symlink() and dest.read_bytes() == mine.read_bytes()
