"""The studio's web routes: the page, its assets and a small JSON API over glyph's public Python API.

Every request works in the visitor's session (a cookie); long work (writing, fonts, restoring, sampling) becomes
a job on the one worker (:mod:`glyph.studio.jobs`) and the page polls it. Errors reach the page as
``{"error": "one line"}`` with a 4xx status; a bug in one request is logged and answered with a 500 line, and the
server goes on.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import secrets
import shutil
import tempfile
import threading
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import GlyphError, one_line
from .jobs import JobQueue, Models
from .sessions import Session, Sessions, StudioBusy, session_file
from .uploads import Limits, UploadError, display_name, read_checked, save_upload, size_text

log = logging.getLogger("glyph.studio")

STATIC = Path(__file__).parent / "static"
COOKIE = "glyph_studio"
#: Reference previews are drawn at this size (the page shows them at 64-96 CSS px on a phone's dense screen).
PREVIEW_SIZE = 128
#: The page's rules: nothing from another origin (the page works offline and leaks nothing).
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
#: Photos decoded at once. A 40-megapixel photo is about half a gigabyte as floats, so twenty visitors uploading
#: together wait here rather than fill memory.
DECODE_SLOTS = threading.BoundedSemaphore(2)
#: Restore inputs are kept at most this many pixels a side until their job runs (restorecae works at 64).
RESTORE_SIDE = 512
#: The largest JSON request (a text of 8,000 characters is 24 kB).
JSON_BYTES = 1024 * 1024
#: Seconds between sweeps for idle sessions.
REAP_EVERY = 60.0
_REF_ID = re.compile(r"^(?:U\+[0-9A-F]{4,6}|ref)_\d+$")
_RUN_ID = re.compile(r"^[0-9a-f]{12}$")


@dataclass
class Studio:
    """What the routes share: limits, sessions, the job queue and the models it owns."""

    limits: Limits
    sessions: Sessions
    queue: JobQueue
    models: Models
    device: str


# ---------------------------------------------------------------------------------------------------------------
# Plumbing: sessions in cookies, errors as JSON lines
# ---------------------------------------------------------------------------------------------------------------

Handler = Callable[[Request, Studio, Any], Awaitable[Any]]


def _api(handler: Handler, create: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """A route that answers JSON in the visitor's session; errors become ``{"error": ...}``.

    :param create: start a session for a visitor without one (routes that store something); otherwise the
        handler gets None for such a visitor, so reading pages never fills the studio with sessions.
    """

    async def endpoint(request: Request) -> Response:
        studio: Studio = request.app.state.studio
        sid = request.cookies.get(COOKIE)
        session = None
        try:
            session = studio.sessions.get(sid, create=create)
            result = await handler(request, studio, session)
            response = result if isinstance(result, Response) else JSONResponse(result)
        except _TooLarge:  # the Guard cut the body off as it arrived
            response = JSONResponse({"error": f"the upload is larger than {size_text(studio.limits.request_bytes)}; "
                                              f"send fewer or smaller files"}, status_code=413)
        except StudioBusy as e:
            response = JSONResponse({"error": one_line(str(e))}, status_code=503)
        except UploadError as e:
            response = JSONResponse({"error": one_line(str(e))}, status_code=422)
        except GlyphError as e:
            response = JSONResponse({"error": one_line(str(e))}, status_code=400)
        except HTTPException as e:  # Starlette's form parser: too many files or fields, a malformed body
            response = JSONResponse({"error": f"the upload could not be read ({e.detail}); send at most "
                                              f"{studio.limits.files} images at a time from the page"},
                                    status_code=e.status_code)
        except Exception as e:  # a bug: say so on the page, keep serving
            log.exception("studio request %s %s failed", request.method, request.url.path)
            response = JSONResponse({"error": f"internal error ({type(e).__name__}); the server log has the "
                                              f"details"}, status_code=500)
        if session is not None and session.id != sid and studio.sessions.get(session.id, create=False):
            response.set_cookie(COOKIE, session.id, httponly=True, samesite="strict", path="/")
        response.headers["Cache-Control"] = "no-store"
        return response

    return endpoint


async def _json(request: Request) -> dict[str, Any]:
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > JSON_BYTES:
            raise UploadError(f"the request is larger than {size_text(JSON_BYTES)}; a text of at most "
                              f"{studio_limits(request).text_chars:,} characters fits easily")
    try:
        body = json.loads(bytes(raw))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise GlyphError("the request body is not JSON; reload the page") from None
    if not isinstance(body, dict):
        raise GlyphError("the request body is not a JSON object; reload the page")
    return body


def studio_limits(request: Request) -> Limits:
    """The limits of the studio serving ``request``."""
    return request.app.state.studio.limits


def _url(session: Session, path: Path) -> str:
    return "/files/" + path.relative_to(session.folder).as_posix()


def _job_folder(session: Session) -> tuple[str, Path]:
    run = secrets.token_hex(6)
    folder = session.jobs / run
    folder.mkdir(parents=True)
    return run, folder


# ---------------------------------------------------------------------------------------------------------------
# The page, files, info
# ---------------------------------------------------------------------------------------------------------------


async def index(request: Request) -> Response:
    """The page."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def files(request: Request) -> Response:
    """A file of the visitor's session (a preview, a result, a download with ``?download=1&name=``)."""
    studio: Studio = request.app.state.studio
    session = studio.sessions.get(request.cookies.get(COOKIE), create=False)
    try:
        if session is None:
            raise GlyphError("no such file in this session")
        path = session_file(session, request.path_params["rel"])
    except GlyphError as e:
        return JSONResponse({"error": one_line(str(e))}, status_code=404)
    name = request.query_params.get("name")
    if request.query_params.get("download") and name:
        return FileResponse(path, filename=display_name(name), headers={"Cache-Control": "no-store"})
    return FileResponse(path, headers={"Cache-Control": "no-store"})


SHEET_SIZES = (16, 64)  # writing sheets the studio offers (it keeps at most 64 references)
_SHEET_LOCK = threading.Lock()


@functools.lru_cache(maxsize=len(SHEET_SIZES))
def _sheet_pdf(n: int) -> bytes:
    """A writing sheet of ``n`` characters as PDF bytes (drawn once per size)."""
    import io

    from ..data.sheets import DPI, render_sheet

    pages = render_sheet(n)
    buffer = io.BytesIO()
    pages[0].save(buffer, "PDF", resolution=DPI, save_all=True, append_images=pages[1:])
    return buffer.getvalue()


async def sheet(request: Request) -> Response:
    """GET /sheet-N.pdf: a printable writing sheet (16 or 64 characters); read-only, starts no session."""
    n = int(request.path_params["n"])
    if n not in SHEET_SIZES:
        return JSONResponse({"error": f"writing sheets here have {' or '.join(map(str, SHEET_SIZES))} characters"},
                            status_code=404)

    def draw() -> bytes:
        with _SHEET_LOCK:  # one drawing at a time; then cached
            return _sheet_pdf(n)

    body = await run_in_threadpool(draw)
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="glyph-sheet-{n}.pdf"',
                             "Cache-Control": "no-store"})


async def info(request: Request, studio: Studio, session: Session) -> dict[str, Any]:
    """GET /api/info: version, device, the charsets a font can be built of, the upload limits."""
    from .. import __version__

    lim = studio.limits
    return {"version": __version__, "device": studio.device, "charsets": _charsets(),
            "limits": {"file": size_text(lim.file_bytes), "files": lim.files, "refs": lim.refs,
                       "text_chars": lim.text_chars}}


#: The charsets a whole font can be built of (names only: the page never names a file on the server).
CHARSETS = ("common-500", "common-1000", "jis-1", "gb2312-1", "gb2312")


def _charsets() -> list[dict[str, Any]]:
    from ..data.charsets import load_charset

    return [{"name": c, "count": len(load_charset(c).chars)} for c in CHARSETS]


async def methods(request: Request, studio: Studio, session: Session) -> dict[str, Any]:
    """GET /api/methods: the installed methods (glyph list's rows) with what each can do and whether it has a card."""

    def rows() -> list[dict[str, Any]]:
        from ..catalogue import model_card
        from ..loader import get_registry
        from ..registry import method_rows

        registry = get_registry()
        out = []
        for row in method_rows(registry):
            cls = registry.methods[row["name"]].obj
            ready = not cls.trainable or cls.shipped_weights() is not None
            row["can"] = [c for c in ("sample", "write", "restore") if callable(getattr(cls, c, None))]
            row["ready"] = ready
            row["card"] = model_card(row["name"]) is not None
            out.append(row)
        return out

    return {"methods": await run_in_threadpool(rows)}


async def card(request: Request, studio: Studio, session: Session) -> dict[str, Any]:
    """GET /api/methods/NAME/card: the method's model card as Markdown."""
    from ..catalogue import model_card
    from ..loader import get_registry

    name = request.path_params["name"]
    entry = get_registry().method(name)  # unknown: a did-you-mean line
    text = model_card(name)
    if text is None:
        cat = entry.catalogue
        text = (f"# {name}\n\n{cat.get('summary', '')}\n\nglyph ships no model card for this method; see the "
                f"documentation of {entry.provider.dist}.")
    return {"name": name, "markdown": text}


# ---------------------------------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------------------------------


def _refs(session: Session) -> list[dict[str, Any]]:
    """The session's references, in upload order: id, character, the browser's file name, preview URL."""
    out = []
    for meta in sorted(session.previews.glob("*.json"), key=lambda p: int(p.stem.rsplit("_", 1)[1])):
        data = json.loads(meta.read_text(encoding="utf-8"))
        out.append({**data, "url": _url(session, meta.with_suffix(".png"))})
    return out


def _add_ref(session: Session, ref_id: str, char: str, name: str, glyph: Any, digest: str) -> None:
    from ..imageio import write_image

    write_image(session.previews / f"{ref_id}.png", 1.0 - glyph.astype("float32") / 255.0)
    meta = {"id": ref_id, "char": char, "name": name, "digest": digest}
    (session.previews / f"{ref_id}.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def _digest(path: Path, extra: str = "") -> str:
    """What tells one upload from another (a photo sent twice, a sheet cut twice with the same text)."""
    h = hashlib.sha256(extra.encode())
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:32]


def _decoded(path: Path, name: str, then: Callable[[Any, str], Any]) -> Any:
    """``then(pixels, kind)`` of the upload at ``path``, holding one of the :data:`DECODE_SLOTS` meanwhile."""
    with DECODE_SLOTS:
        pixels, kind = read_checked(path, name)
        return then(pixels, kind)


def _skipped(name: str, err: GlyphError) -> dict[str, str]:
    """An upload the page lists as not used: its name and why (the error without its leading ``name: ``)."""
    why = str(err)
    return {"what": name, "why": why.removeprefix(f"{name}: ")}


def _sheet_refs(page: Any) -> Any:
    """A writing sheet's references; refuses a page with every box empty (and says what to do)."""
    if not page.refs.chars:
        raise GlyphError("every box of the sheet is empty: write a character in each box (dark pen), then photograph "
                         "the page again")
    return page.refs


def _ref_id(session: Session, char: str) -> str:
    n = session.next_number()
    return f"U+{ord(char):04X}_{n}" if char else f"ref_{n}"


async def add_refs(request: Request, studio: Studio, session: Session) -> dict[str, Any]:
    """POST /api/refs: photos of single characters (``files``), or one photo of a sheet (``sheet``): a glyph writing
    sheet (``/sheet-N.pdf``, found by its corner squares) or a sheet of one's own with its ``text`` (and ``grid``)."""
    from ..data.refs import char_from_filename, normalize_glyph, parse_grid, slice_sheet
    from ..data.sheets import read_sheet
    from ..imageio import write_image

    lim = studio.limits
    async with session.uploading, request.form(max_files=lim.files + 1, max_fields=16) as form:
        uploads = [f for f in form.getlist("files") if hasattr(f, "read")]
        sheet = form.get("sheet")
        text = str(form.get("text") or "")
        grid = str(form.get("grid") or "").strip()
        skipped: list[dict[str, str]] = []
        known = {r["digest"]: r["name"] for r in _refs(session)}
        have, added = len(known), 0
        if sheet is not None and hasattr(sheet, "read"):
            chars = [c for c in text if not c.isspace()]
            if grid and not chars:
                raise GlyphError("a grid cuts a sheet of your own: type the characters written on it, in reading "
                                 "order (rows, left to right)")
            shape = parse_grid(grid) if grid else None
            _, tmp = _job_folder(session)
            try:
                path = await save_upload(sheet, tmp, "sheet", lim)
                name = display_name(sheet.filename)
                digest = _digest(path, "".join(chars) + "|" + grid)
                if any(r["digest"] == digest for r in _refs(session)):
                    raise GlyphError(f"{name} was already cut with this text; its references are below")
                if chars:
                    cut = await run_in_threadpool(_decoded, path, name, lambda px, kind: slice_sheet(
                        px, kind, text, grid=shape, source=name))
                else:  # no text: a glyph writing sheet says which characters it holds
                    cut = await run_in_threadpool(_decoded, path, name, lambda px, kind: _sheet_refs(
                        read_sheet(px, kind, source=name)))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            skipped += [{"what": w, "why": y} for w, y in cut.skipped]
            for glyph, ch, where in zip(cut.images, cut.chars, cut.files, strict=True):
                if have >= lim.refs:
                    skipped.append({"what": where, "why": f"the studio keeps at most {lim.refs} references"})
                    continue
                ref_id = _ref_id(session, ch)
                write_image(session.refs / f"{ref_id}.png", 1.0 - glyph.astype("float32") / 255.0)
                _add_ref(session, ref_id, ch, where, glyph, digest)
                have += 1
                added += 1
        elif not uploads:
            raise GlyphError("choose photos of single characters (or one photo of a sheet and its text)")
        if len(uploads) > lim.files:
            raise UploadError(f"{len(uploads)} files in one go; send at most {lim.files}")
        for up in uploads:
            name = display_name(up.filename)
            if have >= lim.refs:
                skipped.append({"what": name, "why": f"the studio keeps at most {lim.refs} references; remove "
                                                     f"some first"})
                continue
            ch = char_from_filename(Path(name).stem) or ""
            ref_id = _ref_id(session, ch)
            try:
                await run_in_threadpool(session.make_room, lim.session_bytes)
                path = await save_upload(up, session.refs, ref_id, lim)
                try:
                    digest = _digest(path)
                    if digest in known:
                        raise GlyphError(f"already added (as {known[digest]})")
                    glyph = await run_in_threadpool(_decoded, path, name,
                                                    lambda px, kind: normalize_glyph(px, kind, PREVIEW_SIZE))
                except GlyphError:
                    path.unlink(missing_ok=True)
                    raise
            except GlyphError as e:
                skipped.append(_skipped(name, e))
                continue
            _add_ref(session, ref_id, ch, name, glyph, digest)
            known[digest] = name
            have += 1
            added += 1
    return {"refs": _refs(session), "added": added, "skipped": skipped}


async def list_refs(request: Request, studio: Studio, session: Session | None) -> dict[str, Any]:
    """GET /api/refs: the session's references."""
    return {"refs": _refs(session) if session is not None else []}


async def remove_ref(request: Request, studio: Studio, session: Session | None) -> dict[str, Any]:
    """DELETE /api/refs/ID: remove one reference."""
    ref_id = request.path_params["ref"]
    if session is None or not _REF_ID.match(ref_id):
        raise GlyphError("no such reference")
    for p in [*session.refs.glob(f"{ref_id}.*"), *session.previews.glob(f"{ref_id}.*")]:
        p.unlink(missing_ok=True)
    return {"refs": _refs(session)}


async def clear_refs(request: Request, studio: Studio, session: Session | None) -> dict[str, Any]:
    """DELETE /api/refs: remove every reference."""
    for folder in (session.refs, session.previews) if session is not None else ():
        for p in folder.iterdir():
            p.unlink(missing_ok=True)
    return {"refs": []}


# ---------------------------------------------------------------------------------------------------------------
# Jobs: write, font, restore, sample
# ---------------------------------------------------------------------------------------------------------------


def _submit(studio: Studio, session: Session, kind: str, work: Callable[[Any], dict[str, Any]],
            folder: Path) -> dict[str, Any]:
    """Queue ``work`` for ``session``; ``folder`` (where it writes) is removed should it fail or be cancelled."""

    def run(ctx: Any) -> dict[str, Any]:
        try:
            return work(ctx)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    try:
        session.make_room(studio.limits.session_bytes, keep=folder.name)
        job = studio.queue.submit(kind, session.id, run)
    except GlyphError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _, position = studio.queue.get(job.id, session.id)
    return job.record(position)


def _need_refs(session: Session) -> None:
    if not any(session.previews.glob("*.json")):
        raise GlyphError("add photos of the writer's characters first (1 to 64; 4 to 16 of different characters "
                         "work best)")


def _text_of(body: dict[str, Any], studio: Studio) -> str:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise GlyphError("type the text to write")
    if len(text) > studio.limits.text_chars:
        raise GlyphError(f"the text has {len(text):,} characters; write at most {studio.limits.text_chars:,} at a "
                         f"time (or build a font of a whole charset)")
    return text


def _refs_key(session: Session, geometry: bool = False) -> str:
    """Which references the session holds now, and whether the hand's geometry was measured (an adapted hand is
    reused only for the same ones and the same choice)."""
    digests = "|".join(sorted(r["digest"] for r in _refs(session))) + ("|geometry" if geometry else "")
    return hashlib.sha256(digests.encode()).hexdigest()[:32]


def _saved_hand(session: Session, geometry: bool = False) -> Path | None:
    """The newest hand adapted to the session's current references (kept by an earlier write), if any."""
    key = _refs_key(session, geometry)
    kept = [p.parent for p in session.jobs.glob("*/hand/refs.key") if p.read_text() == key]
    return max(kept, key=lambda p: p.stat().st_mtime) if kept else None


def _write_glyphs(studio: Studio, session: Session, text: str, adapt: bool, folder: Path, ctx: Any,
                  geometry: bool = False) -> dict[str, Any]:
    """dsfgan writes ``text`` in the session's hand into ``folder/glyphs/`` (one PNG per character).

    With ``adapt``, the adapted hand is kept in ``folder/hand/`` and a later job on the same references (and the
    same ``geometry`` choice) writes in it at once (a whole charset after the text) instead of adapting again.
    With ``geometry`` the hand's slant and proportions are measured on the named references and given to every
    character.
    """
    from ..paths import char_file_name, inside

    hand = studio.models.get("dsfgan")
    names = {r["id"]: r["name"] for r in _refs(session)}
    key = _refs_key(session, geometry)
    saved = _saved_hand(session, geometry) if adapt else None
    keep = folder / "hand" if adapt and saved is None else None
    try:
        if saved is not None:
            glyphs = hand.write(None, text, writer=saved, ctx=ctx)
        else:
            glyphs = hand.write(session.refs, text, n_refs=studio.limits.refs, adapt=adapt, save_writer=keep,
                                geometry=geometry, ctx=ctx)
    finally:
        # The notes name the stored files (U+6C38_3.jpg); the visitor knows them by the names they uploaded, and
        # the studio's own folders are no business of theirs.
        ctx.report.notes[:] = [re.sub(r"\b((?:U\+[0-9A-F]{4,6}|ref)_\d+)\.\w+", lambda m: names.get(m[1], m[0]),
                                      n) for n in ctx.report.notes if "glyph run dsfgan" not in n
                               and not n.startswith("writing in the hand saved in")]
        ctx.report.problems[:] = [(names.get(Path(w).stem, Path(w).name if Path(w).is_absolute() else w), y)
                                  for w, y in ctx.report.problems if keep is None or w != str(keep)]
    if saved is not None:
        ctx.note("written in the hand adapted for your earlier text (same references), without adapting again")
    if keep is not None and keep.is_dir():
        (keep / "refs.key").write_text(key)
    out = folder / "glyphs"
    out.mkdir(exist_ok=True)
    for ch, img in glyphs.items():
        ctx.check_cancel()
        img.save(inside(out, char_file_name(ch)))
    return glyphs


async def write(request: Request, studio: Studio, session: Session) -> dict[str, Any]:
    """POST /api/write {text, adapt, geometry}: a job writing the text in the session's hand (glyphs, preview,
    zip)."""
    body = await _json(request)
    text = _text_of(body, studio)
    adapt, geometry = bool(body.get("adapt")), bool(body.get("geometry"))
    _need_refs(session)
    run, folder = _job_folder(session)

    def work(ctx: Any) -> dict[str, Any]:
        from ..imageio import write_image
        from ..paths import char_file_name
        from ..typeset import typeset_text

        glyphs = _write_glyphs(studio, session, text, adapt, folder, ctx, geometry)
        write_image(folder / "preview.png", typeset_text(text, glyphs, columns=12))
        with zipfile.ZipFile(folder / "glyphs.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted((folder / "glyphs").iterdir()):
                zf.write(p, p.name)
            zf.write(folder / "preview.png", "preview.png")
        return {"run": run, "preview": _url(session, folder / "preview.png"),
                "zip": _url(session, folder / "glyphs.zip"),
                "glyphs": [{"char": ch, "url": _url(session, folder / "glyphs" / char_file_name(ch))}
                           for ch in glyphs]}

    return _submit(studio, session, "write", work, folder)


def _family(body: dict[str, Any]) -> str:
    name = body.get("name") or "My Hand"
    if not isinstance(name, str):
        raise GlyphError("the font name must be text")
    name = " ".join(name.split())
    if not name or len(name) > 63 or any(not ch.isprintable() for ch in name):
        raise GlyphError("give the font a name of 1 to 63 printable characters, e.g. My Hand")
    return name


def _font_file(family: str, charset: str = "") -> str:
    """The font's file name: the family's letters and digits of any script (我的手写.otf, MyHand.otf), with the
    charset when it holds one (MyHand-gb2312-1.otf), so the text's font and a charset's do not share a name."""
    slug = re.sub(r"[^\w]+", "", family) or "MyHand"
    return f"{slug}-{charset}.otf" if charset else f"{slug}.otf"


async def font(request: Request, studio: Studio, session: Session) -> dict[str, Any]:
    """POST /api/font {name, run | charset, adapt, geometry}: a job building an OTF of a written text or a whole
    charset."""
    from ..data.charsets import load_charset

    body = await _json(request)
    family = _family(body)
    charset = body.get("charset")
    source = body.get("run")
    if charset:
        if charset not in CHARSETS:
            raise GlyphError(f"charset {str(charset)[:40]!r}: choose one of {', '.join(CHARSETS)}")
        chars = "".join(load_charset(charset).chars)
        _need_refs(session)
    elif not (isinstance(source, str) and _RUN_ID.match(source) and (session.jobs / source / "glyphs").is_dir()):
        raise GlyphError("write a text first (the font holds its characters), or choose a whole charset")
    adapt, geometry = bool(body.get("adapt")), bool(body.get("geometry"))
    run, folder = _job_folder(session)

    def work(ctx: Any) -> dict[str, Any]:
        from ..font import build_font_from_folder

        glyph_dir = session.jobs / str(source) / "glyphs"
        if charset:
            _write_glyphs(studio, session, chars, adapt, folder, ctx, geometry)
            glyph_dir = folder / "glyphs"
        out = folder / _font_file(family, str(charset) if charset else "")
        report = build_font_from_folder(glyph_dir, out, family, ink="dark",
                                        progress=lambda done, total: ctx.advance("building the font", done, total))
        for what, why in report.skipped:
            ctx.skip(what if len(what) < 40 else Path(what).name, why)
        return {"run": run, "font": _url(session, out), "file": out.name, "family": family,
                "glyphs": len(report.chars)}

    return _submit(studio, session, "font", work, folder)


def _restore_input(pixels: Any, kind: str) -> Any:
    """A damaged glyph as the job will pass it to restorecae: a PIL image at most :data:`RESTORE_SIDE` a side."""
    from ..imageio import to_pil

    image = to_pil(pixels)
    image.thumbnail((RESTORE_SIDE, RESTORE_SIDE))
    return image


async def restore(request: Request, studio: Studio, session: Session) -> dict[str, Any]:
    """POST /api/restore (``files``, ``chars``): a job restoring damaged glyphs, with uncertainty and flags."""
    from ..data.refs import char_from_filename

    lim = studio.limits
    run, folder = _job_folder(session)
    items: list[tuple[str, str, str, Any]] = []  # (name, char, where the char came from, PIL image)
    skipped: list[dict[str, str]] = []
    notes: list[str] = []
    try:
        async with request.form(max_files=lim.files + 1, max_fields=8) as form:
            uploads = [f for f in form.getlist("files") if hasattr(f, "read")]
            given = [c for c in str(form.get("chars") or "") if not c.isspace()]
            if not uploads:
                raise GlyphError("choose one or more images of damaged characters (one character per image)")
            if len(uploads) > lim.files:
                raise UploadError(f"{len(uploads)} files in one go; send at most {lim.files}")
            (folder / "input").mkdir()
            for i, up in enumerate(uploads):
                name = display_name(up.filename)
                try:
                    path = await save_upload(up, folder / "input", f"in_{i}", lim)
                    image = await run_in_threadpool(_decoded, path, name, _restore_input)
                except GlyphError as e:
                    skipped.append(_skipped(name, e))
                    continue
                guess = char_from_filename(Path(name).stem) or ""
                ch, source = (given[i], "given") if i < len(given) else (guess, "file name" if guess else "")
                items.append((name, ch, source, image))
        if not items:
            first = f": {skipped[0]['what']}: {skipped[0]['why']}" if skipped else ""
            raise UploadError(f"no image could be read{first}")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if given and len(given) != len(uploads):
        notes.append(f"{len(given)} characters given for {len(uploads)} images: "
                     + ("the rest were read from the file names" if len(given) < len(uploads)
                        else "the extra ones were not used"))

    def work(ctx: Any) -> dict[str, Any]:
        restorer = studio.models.get("restorecae")
        for line in notes:
            ctx.note(line)
        results = restorer.restore_checked([it[3] for it in items], chars=[it[1] for it in items], ctx=ctx)
        rows = []
        with zipfile.ZipFile(folder / "restored.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            report = []
            for i, ((name, ch, source, im), r) in enumerate(zip(items, results, strict=True)):
                ctx.check_cancel()
                damaged, restored = folder / f"damaged_{i}.png", folder / f"restored_{i}.png"
                im.convert("RGB").save(damaged)
                r.image.save(restored)
                stem = f"{i + 1:02d}_{Path(name).stem}"  # numbered: two uploads may share a name
                zf.write(restored, f"{stem}.png")
                row = {"name": name, "char": ch, "char_from": source, "damaged": _url(session, damaged),
                       "restored": _url(session, restored), **r.trust.record()}
                if r.uncertainty is not None:
                    unsure = folder / f"uncertainty_{i}.png"
                    r.uncertainty.save(unsure)
                    zf.write(unsure, f"uncertainty/{stem}.png")
                    row["uncertainty_map"] = _url(session, unsure)
                rows.append(row)
                report.append({"file": name, **r.trust.record()})
            zf.writestr("report.json", json.dumps(report, ensure_ascii=False, indent=1))
        return {"run": run, "rows": rows, "zip": _url(session, folder / "restored.zip"), "upload_skipped": skipped}

    return _submit(studio, session, "restore", work, folder)


async def sample(request: Request, studio: Studio, session: Session) -> dict[str, Any]:
    """POST /api/sample {method, seed, n}: a job drawing samples from a method's shipped weights."""
    from ..loader import get_registry

    body = await _json(request)
    name = str(body.get("method") or "")
    cls = get_registry().method(name).obj
    if not callable(getattr(cls, "sample", None)):
        raise GlyphError(f"{name} does not draw samples; the samplers are the methods marked 'sample'")
    n, seed = body.get("n", 16), body.get("seed", 0)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
        raise GlyphError("draw between 1 and 64 samples")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise GlyphError("the seed is a whole number from 0 to 9,223,372,036,854,775,807")
    run, folder = _job_folder(session)

    def work(ctx: Any) -> dict[str, Any]:
        ctx.advance(f"loading {name}", 0, n)
        images = studio.models.get(name).sample(n, seed=seed)
        urls = []
        for i, im in enumerate(images):
            path = folder / f"{name}_{seed}_{i}.png"
            im.save(path)
            urls.append(_url(session, path))
        return {"run": run, "method": name, "seed": seed, "images": urls}

    return _submit(studio, session, "sample", work, folder)


async def job_list(request: Request, studio: Studio, session: Session | None) -> dict[str, Any]:
    """GET /api/jobs: the session's waiting and running jobs (a reloaded page follows them)."""
    return {"jobs": studio.queue.of_session(session.id) if session is not None else []}


async def job_status(request: Request, studio: Studio, session: Session | None) -> dict[str, Any]:
    """GET /api/jobs/ID: a job's state, progress, place in the queue and result."""
    job, position = studio.queue.get(request.path_params["job"], session.id if session else "")
    return job.record(position)


async def job_cancel(request: Request, studio: Studio, session: Session | None) -> dict[str, Any]:
    """POST /api/jobs/ID/cancel: cancel a job."""
    job = studio.queue.cancel(request.path_params["job"], session.id if session else "")
    _, position = studio.queue.get(job.id, job.session)
    return job.record(position)


async def end_session(request: Request, studio: Studio, session: Session | None) -> Response:
    """DELETE /api/session: end the visitor's session, its files and jobs (Start over)."""
    if session is not None:
        studio.sessions.end(session.id)  # (its jobs are cancelled as it goes)
    response = JSONResponse({"ended": True})
    response.delete_cookie(COOKIE, path="/")
    return response


# ---------------------------------------------------------------------------------------------------------------
# Guards: body size, same-origin, known host
# ---------------------------------------------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


class Guard:
    """ASGI middleware: refuses request bodies over the limit while they arrive (Starlette caps no file part),
    requests from other sites (a page elsewhere cannot drive the studio through the visitor's browser) and, on
    loopback, other Host names (DNS rebinding); adds the page's security headers."""

    def __init__(self, app: Any, limit: int, loopback: bool) -> None:
        self.app, self.limit, self.loopback = app, limit, loopback

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        if self.loopback and hostname not in ("127.0.0.1", "localhost", "[::1]"):
            return await _refuse(send, 421, "this studio answers on 127.0.0.1 or localhost only")
        origin = headers.get("origin")
        if scope["method"] not in ("GET", "HEAD") and origin is not None and origin != f"{scope['scheme']}://{host}":
            return await _refuse(send, 403, "requests from other sites are refused; use the studio's own page")
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await _refuse(send, 413, f"the upload is larger than {size_text(self.limit)}; send fewer or "
                                            f"smaller files")
        seen, started = 0, False

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"content-security-policy", CSP.encode())]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _refuse(send, 413, f"the upload is larger than {size_text(self.limit)}; send fewer or "
                                         f"smaller files")


async def _refuse(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": one_line(message)}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------------------------


def create_app(*, device: str = "auto", precision: str = "auto", limits: Limits | None = None,
               loopback: bool = True, root: Path | None = None) -> Any:
    """The studio as an ASGI app (for uvicorn or a test client).

    :param device: where the models run (``auto``, ``cpu``, ``cuda``...), checked now.
    :param precision: the models' precision, :data:`glyph.device.PRECISIONS`.
    :param loopback: answer only requests addressed to 127.0.0.1 / localhost (as ``glyph serve`` binds by default).
    :param root: the folder for the sessions (default: a new temporary folder, removed when the app stops).
    """
    from ..device import resolve_device, resolve_precision, validate_device_spec

    limits = limits or Limits()
    dev = resolve_device(validate_device_spec(device))
    resolve_precision(precision, dev)
    folder = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="glyph-studio-"))
    queue = JobQueue(limits.queue)
    sessions = Sessions(folder, limits, on_drop=queue.cancel_session)  # a session's end cancels its jobs
    studio = Studio(limits, sessions, queue, Models(str(dev), precision), str(dev))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        import asyncio

        async def reaper() -> None:  # idle sessions go even when nobody makes a request
            while True:
                await asyncio.sleep(REAP_EVERY)
                await run_in_threadpool(studio.sessions.reap)

        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            await run_in_threadpool(studio.queue.stop)
            studio.sessions.close()

    routes = [
        Route("/", index),
        Route("/files/{rel:path}", files),
        Route("/sheet-{n:int}.pdf", sheet),
        Route("/api/info", _api(info)),
        Route("/api/methods", _api(methods)),
        Route("/api/methods/{name}/card", _api(card)),
        Route("/api/refs", _api(list_refs), methods=["GET"]),
        Route("/api/refs", _api(add_refs, create=True), methods=["POST"]),
        Route("/api/refs", _api(clear_refs), methods=["DELETE"]),
        Route("/api/refs/{ref}", _api(remove_ref), methods=["DELETE"]),
        Route("/api/write", _api(write, create=True), methods=["POST"]),
        Route("/api/font", _api(font, create=True), methods=["POST"]),
        Route("/api/restore", _api(restore, create=True), methods=["POST"]),
        Route("/api/sample", _api(sample, create=True), methods=["POST"]),
        Route("/api/jobs", _api(job_list)),
        Route("/api/jobs/{job}", _api(job_status)),
        Route("/api/jobs/{job}/cancel", _api(job_cancel), methods=["POST"]),
        Route("/api/session", _api(end_session), methods=["DELETE"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.studio = studio
    return Guard(app, limits.request_bytes, loopback)
