"""glyph studio's server: uploads (limits, bombs, corrupt files, untrusted names), sessions, the job queue (order,
cancel, failures), the guards, the handwriting flow through the API, 20 concurrent requests on loopback, and
`glyph serve` (missing extra, port in use, Ctrl-C). The page itself is driven in a browser by
tests/test_studio_browser.py."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="glyph studio's tests need the studio extra: pip install -e '.[test]'")

from starlette.testclient import TestClient

import glyph.studio as studio
from glyph.errors import GlyphError
from glyph.method import RunContext
from glyph.studio.jobs import JobQueue
from glyph.studio.sessions import Sessions, session_file
from glyph.studio.uploads import Limits, display_name, sniff

from .conftest import BIN, REPO, glyph_env

HAND = REPO / "core" / "assets" / "examples" / "handwriting"
INSCRIPTION = REPO / "core" / "assets" / "examples" / "inscription" / "damaged"


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit PNG of ``width`` x ``height`` white pixels (about 80 kB on disk, 400 M pixels decoded)."""
    z = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def hand_files() -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in sorted(HAND.glob("*.jpg"))]


def wait(client: TestClient, job: dict, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job} did not finish"
        time.sleep(0.1)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = studio.create_app(device="cpu", root=tmp_path_factory.mktemp("studio"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c


# ---- uploads ----------------------------------------------------------------------------------------------------


def test_names_from_the_browser_are_never_paths():
    assert display_name("../../etc/passwd.png") == "passwd.png"
    assert display_name("C:\\Users\\me\\永.jpg") == "永.jpg"
    assert display_name("a\x00b\nc.png") == "abc.png"
    assert display_name("") == "upload" and display_name(None) == "upload"
    assert sniff(b"\x89PNG\r\n\x1a\n....") == ".png" and sniff(b"RIFF\0\0\0\0WEBPVP8 ") == ".webp"
    assert sniff(b"<svg xmlns=") is None and sniff(b"GIF89a") == ".gif"


def test_references_uploaded_checked_and_removed(client):
    client.delete("/api/refs")
    bad = [("files", ("壞.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")),
           ("files", ("notes.txt", b"hello", "text/plain")),
           ("files", ("huge.png", huge_png(), "image/png")),
           ("files", ("../../../escape/永.png", (HAND / "我.jpg").read_bytes() + b"\0", "image/jpeg"))]
    r = client.post("/api/refs", files=hand_files() + bad)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["refs"]) == 9  # 8 examples + the one with a hostile name, stored under a made-up one
    why = {s["what"]: s["why"] for s in body["skipped"]}
    assert "not an image Pillow can read" in why["壞.png"]
    assert "not an image glyph can read" in why["notes.txt"]
    assert "400,000,000 pixels is more than glyph accepts" in why["huge.png"]
    escaped = next(x for x in body["refs"] if x["name"] == "永.png")
    assert escaped["char"] == "永" and escaped["id"].startswith("U+6C38_")
    assert not (REPO.parent / "escape").exists()
    assert client.get(escaped["url"]).headers["content-type"] == "image/png"
    left = client.delete(f"/api/refs/{escaped['id']}").json()["refs"]
    assert len(left) == 8 and escaped["id"] not in {x["id"] for x in left}
    assert client.delete("/api/refs/..%2F..%2Fetc").status_code in (400, 404)


def test_upload_limits(tmp_path):
    app = studio.create_app(device="cpu", root=tmp_path / "s", limits=Limits(file_bytes=4000, request_bytes=200_000))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        r = c.post("/api/refs", files=hand_files()[:1])
        assert r.status_code == 200
        assert r.json()["skipped"][0]["why"].startswith("larger than 4 kB; send a smaller photo")
        r = c.post("/api/refs", files=[("files", ("big.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 300_000, "image/png"))])
        assert r.status_code == 413 and "larger than" in r.json()["error"]
        assert c.get("/api/refs").json()["refs"] == []  # nothing half-kept


def test_files_stay_inside_the_session(client, tmp_path):
    for bad in ("/files/../../etc/passwd", "/files/%2e%2e/%2e%2e/etc/passwd", "/files/refs/.hidden", "/files/"):
        assert client.get(bad).status_code == 404
    other = TestClient(client.app, base_url="http://127.0.0.1:8000")  # another visitor, its own cookie
    refs = client.get("/api/refs").json()["refs"]
    assert refs and other.get(refs[0]["url"]).status_code == 404


def test_guards_refuse_other_sites_and_hosts(client):
    r = client.post("/api/write", json={"text": "永"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "other sites" in r.json()["error"]
    r = client.post("/api/write", json={"text": "永"}, headers={"Origin": "https://127.0.0.1:8000"})
    assert r.status_code == 403  # another scheme is another origin
    r = client.get("/api/info", headers={"Host": "rebound.example:8000"})
    assert r.status_code == 421
    page = client.get("/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "<script src=\"/static/app.js\"" in page.text and "http" not in page.text.split("<body>")[0].replace(
        "http-equiv", "")  # no asset from elsewhere


def test_clear_errors_for_bad_requests(client):
    assert client.post("/api/write", json={"text": "  "}).json()["error"] == "type the text to write"
    assert "not JSON" in client.post("/api/write", content=b"{", headers={"content-type": "application/json"}
                                     ).json()["error"]
    assert "at most 8,000" in client.post("/api/write", json={"text": "永" * 8001}).json()["error"]
    assert "did you mean 'dcgan'" in client.post("/api/sample", json={"method": "dcgn"}).json()["error"]
    assert "does not draw samples" in client.post("/api/sample", json={"method": "dsfgan"}).json()["error"]
    assert "write a text first" in client.post("/api/font", json={"run": "../../x"}).json()["error"]
    assert "this job is gone" in client.get("/api/jobs/nope").json()["error"]
    assert "choose one of common-500" in client.post("/api/font", json={"charset": "klingon"}).json()["error"]
    assert "whole number from 0 to 9,223" in client.post("/api/sample", json={"method": "dcgan", "seed": 2**64}
                                                         ).json()["error"]
    r = client.post("/api/write", content=b"[" * 100_000, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.json()["error"]
    r = client.post("/api/write", content=b" " * (2 * 1024 * 1024), headers={"content-type": "application/json"})
    assert r.status_code == 422 and "larger than 1 MB" in r.json()["error"]


def test_no_file_on_the_server_can_be_read_through_a_charset(client, tmp_path):
    """A charset is a name from the list, never a path (the CLI reads files; the page must not)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("永和九年", encoding="utf-8")
    for spec in (str(secret), "~/.bashrc", "/proc/self/environ", "['gb2312']", "永和"):
        r = client.post("/api/font", json={"charset": spec, "name": "x"})
        assert r.status_code == 400 and "choose one of" in r.json()["error"], spec
        assert "永" not in r.text.replace(spec, "")  # nothing of the file comes back


# ---- the flows --------------------------------------------------------------------------------------------------


def test_write_then_font(client):
    from fontTools.ttLib import TTFont

    client.delete("/api/refs")
    assert len(client.post("/api/refs", files=hand_files()).json()["refs"]) == 8
    job = wait(client, client.post("/api/write", json={"text": "永和九年，岁在癸丑 hello"}).json())
    assert job["status"] == "done", job
    result = job["result"]
    assert [g["char"] for g in result["glyphs"]] == list("永和九年岁在癸丑")
    assert any("not a CJK ideograph" in s["why"] for s in job["skipped"])
    assert any("书.jpg" in n for n in job["notes"])  # notes name the visitor's files, not the stored ones
    assert client.get(result["preview"]).content[:4] == b"\x89PNG"
    font_job = wait(client, client.post("/api/font", json={"run": result["run"], "name": "Test Hand"}).json())
    assert font_job["status"] == "done", font_job
    r = client.get(font_job["result"]["font"] + "?download=1&name=TestHand.otf")
    assert 'filename="TestHand.otf"' in r.headers["content-disposition"]
    path = Path(client.app.app.state.studio.sessions.root) / "font.otf"
    path.write_bytes(r.content)
    font = TTFont(path)
    assert set("永和九年岁在癸丑") <= {chr(c) for c in font.getBestCmap()}
    assert font["name"].getDebugName(1) == "Test Hand"


def test_restore_rows_with_flags(client):
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in sorted(INSCRIPTION.glob("*.png"))]
    files.append(("files", ("broken.png", b"\x89PNG\r\n\x1a\n\0\0", "image/png")))
    job = wait(client, client.post("/api/restore", files=files).json())
    assert job["status"] == "done", job
    rows = job["result"]["rows"]
    assert len(rows) == 8 and [r["char"] for r in rows] == [p.stem for p in sorted(INSCRIPTION.glob("*.png"))]
    assert all(r["uncertainty_map"] and r["read_as"] for r in rows)
    assert job["result"]["upload_skipped"][0]["what"] == "broken.png"
    assert client.get(job["result"]["zip"]).content[:2] == b"PK"


def test_samples_and_cards(client):
    methods = {m["name"]: m for m in client.get("/api/methods").json()["methods"]}
    assert {"dcgan", "dsfgan", "restorecae"} <= set(methods)
    assert methods["dcgan"]["can"] == ["sample"] and methods["dsfgan"]["can"] == ["write"]
    assert client.get("/api/methods/restorecae/card").json()["markdown"].startswith("# restorecae")
    job = wait(client, client.post("/api/sample", json={"method": "dcgan", "n": 3, "seed": 7}).json())
    assert job["status"] == "done" and len(job["result"]["images"]) == 3


# ---- the queue and sessions -------------------------------------------------------------------------------------


def test_queue_runs_in_order_and_cancels():
    q = JobQueue(limit=8)
    order: list[int] = []
    gate = threading.Event()

    def slow(ctx: RunContext) -> dict:
        for i in range(1000):
            ctx.advance("slow", i, 1000)
            gate.wait(0.01)
        return {}

    def quick(i: int):
        return lambda ctx: order.append(i) or {"i": i}

    first = q.submit("slow", "s", slow)
    while first.status == "queued":
        time.sleep(0.01)
    waiting = [q.submit("quick", "s", quick(i)) for i in range(5)]
    assert q.get(waiting[2].id, "s")[1] == 3  # its place in the queue
    assert q.get(first.id, "s")[1] is None
    q.cancel(waiting[1].id, "s")
    assert waiting[1].status == "cancelled"
    time.sleep(0.1)
    q.cancel(first.id, "s")  # running: stops at its next progress step
    deadline = time.monotonic() + 10
    while q.pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert first.status == "cancelled" and order == [0, 2, 3, 4]
    with pytest.raises(GlyphError, match="this job is gone"):
        q.get(first.id, "another session")
    assert q.stop(5)


def test_a_failing_job_leaves_the_queue_running():
    q = JobQueue()
    bad = q.submit("bug", "s", lambda ctx: 1 / 0)
    fine = q.submit("ok", "s", lambda ctx: {"ok": True})
    user = q.submit("user", "s", lambda ctx: (_ for _ in ()).throw(GlyphError("a clear line")))
    deadline = time.monotonic() + 10
    while q.pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert bad.status == "failed" and "internal error (ZeroDivisionError" in bad.error
    assert fine.status == "done" and fine.result == {"ok": True}
    assert user.status == "failed" and user.error == "a clear line"
    assert q.stop(5)


def test_queue_is_bounded():
    q = JobQueue(limit=2)
    gate = threading.Event()
    q.submit("block", "s", lambda ctx: gate.wait(5) and {})
    time.sleep(0.05)
    q.submit("a", "s", lambda ctx: {})
    q.submit("b", "s", lambda ctx: {})
    with pytest.raises(GlyphError, match="busy"):
        q.submit("c", "s", lambda ctx: {})
    gate.set()
    assert q.stop(5)


def test_sessions_expire_and_are_removed(tmp_path, monkeypatch):
    from glyph.studio import sessions

    s = Sessions(tmp_path / "root", Limits(idle_seconds=3600, sessions=2))
    a, b = s.get(None), s.get(None)
    assert a.folder.is_dir() and s.get(a.id) is a
    for x in (a, b):
        (x.previews / "r.json").write_text("{}")
    with pytest.raises(GlyphError, match="try again in a few minutes"):
        s.get(None)  # both in use: a third visitor waits
    monkeypatch.setattr(sessions, "EVICT_IDLE", 0.0)
    c = s.get(None)  # both left alone long enough: the least recently used (b) goes
    assert not b.folder.exists() and a.folder.is_dir() and c.folder.is_dir()
    (a.refs / "x.png").write_bytes(b"1")
    assert session_file(a, "refs/x.png") == (a.refs / "x.png").resolve()
    for bad in ("../x", "refs/../../x", "/etc/passwd", "refs\\x", ".x"):
        with pytest.raises(GlyphError):
            session_file(a, bad)
    s.limits = Limits(idle_seconds=0)
    time.sleep(0.01)
    assert s.reap() == 2 and not a.folder.exists()
    s.close()
    assert not (tmp_path / "root").exists()


def test_session_disk_cap_drops_old_results(tmp_path):
    s = Sessions(tmp_path, Limits())
    a = s.get(None)
    for i in range(3):
        (a.jobs / f"j{i}").mkdir()
        (a.jobs / f"j{i}" / "f").write_bytes(b"0" * 1000)
        os.utime(a.jobs / f"j{i}", (i, i))
    a.make_room(2500)
    assert sorted(p.name for p in a.jobs.iterdir()) == ["j1", "j2"]
    (a.refs / "big").write_bytes(b"0" * 5000)
    with pytest.raises(GlyphError, match="Start over"):
        a.make_room(2500)


# ---- a real server on loopback ----------------------------------------------------------------------------------


def test_twenty_concurrent_writes_on_loopback(tmp_path):
    """20 visitors each upload references and ask for a text at once: every request completes, in the order the
    queue took them, one model serves them all, and the process grows by a bounded amount."""
    import httpx

    running = studio.start(port=0, device="cpu", root=tmp_path / "s")
    try:
        def rss() -> int:
            return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

        results: list[dict | Exception] = [None] * 20  # type: ignore[list-item]
        warm = httpx.Client(base_url=running.url, timeout=300)
        warm.post("/api/refs", files=hand_files()[:2])
        wait(warm, warm.post("/api/write", json={"text": "永"}).json())  # the model loads once, before measuring
        before = rss()

        def visitor(i: int) -> None:
            try:
                with httpx.Client(base_url=running.url, timeout=300) as c:
                    assert len(c.post("/api/refs", files=hand_files()[i % 8:i % 8 + 2]).json()["refs"]) >= 1
                    job = c.post("/api/write", json={"text": "永和九年"[i % 4] + "字"}).json()
                    results[i] = wait(c, job)
            except Exception as e:
                results[i] = e

        threads = [threading.Thread(target=visitor, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        assert all(isinstance(r, dict) and r["status"] == "done" for r in results), results
        assert all(len(r["result"]["glyphs"]) == 2 for r in results)
        queue = running.server.config.app.app.state.studio.queue
        finished = sorted(queue._jobs.values(), key=lambda j: j.finished)
        assert [j.created for j in finished] == sorted(j.created for j in finished)  # first come, first served
        assert list(running.server.config.app.app.state.studio.models._loaded) == ["dsfgan"]
        assert rss() - before < 1.5e9
    finally:
        running.stop()
    assert not (tmp_path / "s").exists()  # every session's files removed on stop


# ---- glyph serve ------------------------------------------------------------------------------------------------


def test_serve_says_how_to_get_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    with pytest.raises(GlyphError, match=r"pip install 'glyph-cjk\[studio\]'"):
        studio.create_app()


def test_serve_help_names_the_extra(glyph):
    r = glyph("serve", "--help")
    assert r.code == 0 and "pip install 'glyph-cjk[studio]'" in " ".join(r.out.split())


def test_serve_refuses_a_taken_port(glyph):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = glyph("serve", "--port", str(s.getsockname()[1]))
    assert r.code == 1 and "is in use" in r.err and "Traceback" not in r.err
    assert studio.is_loopback("127.0.0.1") and studio.is_loopback("::1") and not studio.is_loopback("0.0.0.0")


def test_ctrl_c_stops_cleanly_and_removes_files(tmp_path):
    env = glyph_env(TMPDIR=str(tmp_path))
    proc = subprocess.Popen([str(BIN / "glyph"), "--device", "cpu", "serve", "--port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "glyph studio: open http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() else "")
        url = line.split("open ", 1)[1].split()[0]
        import httpx

        assert httpx.get(url + "api/info").json()["device"] == "cpu"
        assert any(p.name.startswith("glyph-studio-") for p in tmp_path.iterdir())
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in err and "Traceback" not in err
    assert not any(p.name.startswith("glyph-studio-") for p in tmp_path.iterdir())


def test_a_sheet_cut_into_references(client):
    import io

    from .test_refs import SHEET_TEXT, sheet

    client.delete("/api/refs")
    buf = io.BytesIO()
    sheet().save(buf, "PNG")
    r = client.post("/api/refs", files={"sheet": ("page.png", buf.getvalue(), "image/png")},
                    data={"text": SHEET_TEXT, "grid": ""})
    assert r.status_code == 200, r.text
    refs = r.json()["refs"]
    assert "".join(x["char"] for x in refs) == "".join(SHEET_TEXT.split())
    assert refs[0]["name"] == "page.png#r1c1"
    r = client.post("/api/refs", files={"sheet": ("page.png", buf.getvalue(), "image/png")}, data={"text": ""})
    assert "no glyph writing sheet found" in r.json()["error"]  # no text: it must be one of glyph's sheets
    r = client.post("/api/refs", files={"sheet": ("page.png", buf.getvalue(), "image/png")}, data={"grid": "2x4"})
    assert "type the characters written on it" in r.json()["error"]
    r = client.post("/api/refs", files={"sheet": ("page.png", buf.getvalue(), "image/png")},
                    data={"text": SHEET_TEXT, "grid": "9x9"})
    assert "grid 9x9" in r.json()["error"]


def test_a_writing_sheet_printed_from_the_studio_comes_back_as_references(client):
    """/sheet-16.pdf is a printable sheet (read-only: no session); a photo of it filled in, uploaded without text,
    gives one reference per box, named after its character."""
    import io

    from .test_sheets import _photograph, _written

    r = client.get("/sheet-16.pdf")
    assert r.status_code == 200 and r.content[:5] == b"%PDF-" and "attachment" in r.headers["content-disposition"]
    assert client.get("/sheet-300.pdf").status_code == 404
    client.delete("/api/refs")
    page, _, chars = _written(16)
    buf = io.BytesIO()
    _photograph(page, "upside down").save(buf, "JPEG", quality=85)
    r = client.post("/api/refs", files={"sheet": ("sheet.jpg", buf.getvalue(), "image/jpeg")}, data={"text": ""})
    assert r.status_code == 200, r.text
    assert "".join(x["char"] for x in r.json()["refs"]) == chars


def test_adapting_can_be_cancelled(client):
    """Cancel reaches into the method: adaptation stops at its next step, the queue goes on."""
    client.delete("/api/refs")
    client.post("/api/refs", files=hand_files())
    before = wait(client, client.post("/api/write", json={"text": "永"}).json())
    job = client.post("/api/write", json={"text": "永和", "adapt": True}).json()
    deadline = time.monotonic() + 120
    while not job["task"].startswith("adapting") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
    assert job["status"] == "running", job
    client.post(f"/api/jobs/{job['id']}/cancel")
    t0 = time.monotonic()
    job = wait(client, job)
    assert job["status"] == "cancelled" and time.monotonic() - t0 < 10
    after = wait(client, client.post("/api/write", json={"text": "永"}).json())
    assert after["status"] == "done"  # the model is back to its base weights and serves the next visitor:
    pixels = [client.get(j["result"]["glyphs"][0]["url"]).content for j in (before, after)]
    assert pixels[0] == pixels[1]


def test_a_flood_of_visitors_ends_no_one_elses_work(tmp_path):
    """Pages that only read create no session; when the studio is full, a new visitor is told to wait instead of
    someone active being removed; a session that ends takes its jobs with it."""
    app = studio.create_app(device="cpu", root=tmp_path / "s", limits=Limits(sessions=2))
    state = app.app.state.studio
    with TestClient(app, base_url="http://127.0.0.1:8000") as first:
        for _ in range(20):
            assert TestClient(app, base_url="http://127.0.0.1:8000").get("/api/info").status_code == 200
            assert TestClient(app, base_url="http://127.0.0.1:8000").get("/api/refs").json() == {"refs": []}
        for _ in range(5):  # removing nothing starts no session either
            assert TestClient(app, base_url="http://127.0.0.1:8000").delete("/api/refs").status_code == 200
        assert len(state.sessions) == 0
        # A full studio makes room from sessions that hold nothing (a refused request may have started one).
        TestClient(app, base_url="http://127.0.0.1:8000").post("/api/sample", json={"method": "dcgan", "n": 0})
        first.post("/api/refs", files=hand_files()[:1])
        second = TestClient(app, base_url="http://127.0.0.1:8000")
        assert second.post("/api/refs", files=hand_files()[1:2]).status_code == 200  # the empty one made room
        assert len(state.sessions) == 2
        r = TestClient(app, base_url="http://127.0.0.1:8000").post("/api/refs", files=hand_files()[2:3])
        assert r.status_code == 503 and "try again in a few minutes" in r.json()["error"]
        assert len(first.get("/api/refs").json()["refs"]) == 1

        gate = threading.Event()
        sid = first.cookies["glyph_studio"]
        blocker = state.queue.submit("block", "nobody", lambda ctx: gate.wait(10) and {})
        waiting = state.queue.submit("write", sid, lambda ctx: {})
        state.sessions.end(sid)
        assert waiting.status == "cancelled"
        gate.set()
        assert blocker.cancel.is_set() is False


def test_oversized_or_malformed_uploads_get_a_clear_status(tmp_path):
    import httpx

    running = studio.start(port=0, device="cpu", root=tmp_path / "s", limits=Limits(request_bytes=100_000))
    try:
        def chunks():
            yield (b'--zz\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
                   b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n")
            for _ in range(40):
                yield b"x" * 10_000

        with httpx.Client(base_url=running.url) as c:
            r = c.post("/api/refs", content=chunks(),
                       headers={"content-type": "multipart/form-data; boundary=zz"})  # no Content-Length
            assert r.status_code == 413 and "larger than 98 kB" in r.json()["error"]
            files = [("files", (f"{i}.png", b"\x89PNG\r\n\x1a\n", "image/png")) for i in range(70)]
            r = c.post("/api/restore", files=files)
            assert r.status_code == 400 and "send at most 64 images" in r.json()["error"]
            r = c.post("/api/refs", content=b"--zz\r\ngarbage", headers={"content-type": "multipart/form-data"})
            assert r.status_code == 400 and "could not be read" in r.json()["error"]
    finally:
        running.stop()


def test_uploading_the_same_photo_twice_keeps_one(client):
    client.delete("/api/refs")
    client.post("/api/refs", files=hand_files()[:2])
    r = client.post("/api/refs", files=hand_files()[:3]).json()
    assert len(r["refs"]) == 3 and r["added"] == 1
    assert [s["why"] for s in r["skipped"]] == [f"already added (as {n})" for n in ("书.jpg", "写.jpg")]


def test_a_font_named_in_chinese(client):
    from fontTools.ttLib import TTFont

    client.delete("/api/refs")
    client.post("/api/refs", files=hand_files())
    job = wait(client, client.post("/api/write", json={"text": "永和"}).json())
    font = wait(client, client.post("/api/font", json={"run": job["result"]["run"], "name": "我的 手写"}).json())
    assert font["status"] == "done", font["error"]
    assert font["result"]["file"] == "我的手写.otf"
    path = Path(client.app.app.state.studio.sessions.root) / "cjk.otf"
    path.write_bytes(client.get(font["result"]["font"]).content)
    assert TTFont(path)["name"].getDebugName(1) == "我的 手写"


def test_a_reloaded_page_finds_its_running_jobs(client):
    client.delete("/api/refs")
    client.post("/api/refs", files=hand_files())
    job = client.post("/api/write", json={"text": "永和九年", "adapt": True}).json()
    listed = client.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]] and listed[0]["kind"] == "write"
    client.post(f"/api/jobs/{job['id']}/cancel")
    assert wait(client, job)["status"] == "cancelled"
    assert client.get("/api/jobs").json()["jobs"] == []


def test_an_adapted_hand_is_reused_for_the_font(client, monkeypatch):
    """Text first, then a whole charset: the charset is written in the hand adapted for the text (same
    references), not adapted again, so the font matches what the page showed."""
    from glyph.plugins.dsfgan import adapt
    from glyph.studio import app

    monkeypatch.setattr(adapt, "SECONDS", 2.0)  # a short adaptation: what is tested is that it is kept
    monkeypatch.setattr(app, "CHARSETS", (*app.CHARSETS, "common-20"))  # a small "whole charset"
    client.delete("/api/refs")
    client.post("/api/refs", files=hand_files())
    job = wait(client, client.post("/api/write", json={"text": "我的", "adapt": True}).json())
    assert job["status"] == "done" and any("adapted to the writer" in n for n in job["notes"]), job
    assert not any("glyph run dsfgan" in n for n in job["notes"])
    font = wait(client, client.post("/api/font", json={"charset": "common-20", "adapt": True, "name": "x"}).json())
    assert font["status"] == "done", font["error"]
    assert any("without adapting again" in n for n in font["notes"])
    assert not any("adapted to the writer in" in n for n in font["notes"])
    folder = Path(client.app.app.state.studio.sessions.root)
    session = next(p for p in folder.iterdir() if (p / "jobs" / job["result"]["run"]).is_dir())
    import numpy as np
    from PIL import Image

    text_glyph, font_glyph = (np.asarray(Image.open(session / "jobs" / j["result"]["run"] / "glyphs" / "我.png"),
                                         dtype=np.float32) for j in (job, font))
    # The same hand: the kept one stores its decoder in fp16, so pixels may differ by a rounding step.
    assert np.abs(text_glyph - font_glyph).mean() < 0.5 and np.abs(text_glyph - font_glyph).max() <= 16
    client.delete(f"/api/refs/{client.get('/api/refs').json()['refs'][0]['id']}")  # other references: adapt again
    again = wait(client, client.post("/api/write", json={"text": "我", "adapt": True}).json())
    assert any("adapted to the writer in" in n for n in again["notes"])


def test_two_uploads_at_once_keep_the_limits(tmp_path):
    """Uploads of one session are taken one at a time: the reference limit and the duplicate check hold."""
    import httpx

    running = studio.start(port=0, device="cpu", root=tmp_path / "s", limits=Limits(refs=10))
    try:
        with httpx.Client(base_url=running.url, timeout=120) as c:
            c.get("/api/refs")
            c.post("/api/refs", files=hand_files()[:1])  # the session (its cookie) first

            def send(files):
                return c.post("/api/refs", files=files)

            variants = [("files", (f"{i}_{p.name}", p.read_bytes() + bytes([i]), "image/jpeg"))
                        for i in range(1, 3) for p in sorted(HAND.glob("*.jpg"))]
            with __import__("concurrent.futures").futures.ThreadPoolExecutor(3) as pool:
                replies = list(pool.map(send, [variants, variants, hand_files()]))
            refs = c.get("/api/refs").json()["refs"]
            assert len(refs) == 10
            assert len({r["digest"] for r in refs}) == 10
            assert all(r.status_code == 200 for r in replies)
    finally:
        running.stop()


def test_writing_with_the_hands_geometry(client):
    """'my slant and proportions': the habits are measured on the named references and said in the notes."""
    client.delete("/api/refs")
    client.post("/api/refs", files=hand_files())
    job = wait(client, client.post("/api/write", json={"text": "永和", "geometry": True}).json())
    assert job["status"] == "done", job
    assert any("measured the hand on" in n for n in job["notes"]), job["notes"]
    plain = wait(client, client.post("/api/write", json={"text": "永和"}).json())
    assert not any("measured the hand on" in n for n in plain["notes"])
