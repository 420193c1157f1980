"""Fuzzers over what networks and files hand glyph: glyph studio's routes and packed-file headers.

Whatever arrives, the studio answers below 500 with a JSON error (or the file asked for), and a packed file loads or
is refused with a :class:`GlyphError`: never another exception, never a hang.
"""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from glyph.errors import GlyphError

FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# JSON values of every shape a client could send, with the keys the routes read among random ones.
KEYS = st.sampled_from(["text", "adapt", "charset", "method", "n", "seed", "name", "chars", "ink", "uncertainty",
                        "family", "ids", "job", "x", ""])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
                    st.sampled_from(["gb2312-1", "common-500", "../../etc/passwd", "dcgan", "dsfgan", "永和",
                                     "9" * 400, "\x00", "/dev/zero"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(KEYS, inner, max_size=5)), max_leaves=12)
IDS = st.one_of(st.text(max_size=40), st.sampled_from(["..", "../..", "%2e%2e", "U+6C38_1", "0" * 300, "\u202e"]))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    pytest.importorskip("starlette", reason="glyph studio's tests need the studio extra: pip install -e '.[test]'")
    from starlette.testclient import TestClient

    import glyph.studio as studio

    app = studio.create_app(device="cpu", root=tmp_path_factory.mktemp("fuzz-studio"))
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as c:
        yield c


def _fine(r) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
        assert isinstance(r.json().get("error"), str) and "\n" not in r.json()["error"]


@FUZZ
@given(route=st.sampled_from(["/api/write", "/api/font", "/api/sample", "/api/restore", "/api/refs"]), body=JSON,
       raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_json_routes_answer_every_body_without_a_server_error(client, route, body, raw):
    # NaN and Infinity go as Python writes them (not JSON, but what a sloppy client sends).
    content = raw if raw is not None else json.dumps(body).encode()
    _fine(client.post(route, content=content, headers={"content-type": "application/json"}))


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["text", "grid", "chars", "ink", "sheet", "x"]),
                              st.text(max_size=40), max_size=4),
       files=st.lists(st.tuples(st.sampled_from(["files", "sheet", "images", "other"]), st.text(max_size=30),
                                st.binary(max_size=300)), max_size=3))
def test_multipart_uploads_answer_every_form_without_a_server_error(client, fields, files):
    r = client.post("/api/refs", data=fields, files=[(k, (name or "x", blob, "image/png")) for k, name, blob in files])
    _fine(r)
    r = client.post("/api/restore", data=fields, files=[(k, (name or "x", blob, "image/png")) for k, name, blob in
                                                         files])
    _fine(r)


@FUZZ
@given(path=st.sampled_from(["/api/refs/{}", "/api/jobs/{}", "/api/jobs/{}/cancel", "/files/{}",
                             "/api/methods/{}/card", "/sheet-{}.pdf"]), ident=IDS,
       method=st.sampled_from(["GET", "POST", "DELETE"]),
       origin=st.sampled_from([None, "http://127.0.0.1:8000", "http://evil.example", "null", ""]))
@example(path="/api/methods/{}/card", ident="\n", method="GET", origin=None)  # the error quoted the newline
@example(path="/api/methods/{}/card", ident="a\u202eb", method="GET", origin=None)
def test_ids_paths_and_origins_never_reach_a_server_error(client, path, ident, method, origin):
    from urllib.parse import quote

    headers = {} if origin is None else {"Origin": origin}
    r = client.request(method, path.format(quote(ident, safe="")), headers=headers)
    _fine(r)


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> bytes:
    from glyph.data.packed import save_packed
    from glyph.data.sources import open_dataset

    path = tmp_path_factory.mktemp("fuzz-packed") / "ok.safetensors"
    save_packed(open_dataset("embedded").subset(slice(0, 6)), path)
    return path.read_bytes()


def _load(tmp_path, blob: bytes) -> None:
    from glyph.data.packed import load_packed

    path = tmp_path / "f.safetensors"
    path.write_bytes(blob)
    try:
        data = load_packed(path)
    except GlyphError as e:
        assert "\n" not in str(e)
        return
    assert len(data) > 0 and data.images.shape[1] in (1, 3)


@FUZZ
@given(meta=JSON, keep=st.booleans())
def test_packed_files_with_any_metadata_load_or_are_refused(tmp_path, packed, meta, keep):
    (n,) = struct.unpack("<Q", packed[:8])
    header = json.loads(packed[8:8 + n])
    inner = json.loads(header["__metadata__"]["glyph"])
    if keep and isinstance(meta, dict):
        inner.update({k: v for k, v in meta.items() if k})  # glyph's own fields, overwritten with anything
        header["__metadata__"]["glyph"] = json.dumps(inner)
    else:
        header["__metadata__"]["glyph"] = json.dumps(meta)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    _load(tmp_path, struct.pack("<Q", len(text)) + text + packed[8 + n:])


@FUZZ
@given(data=st.data())
def test_packed_files_with_damaged_bytes_load_or_are_refused(tmp_path, packed, data):
    (n,) = struct.unpack("<Q", packed[:8])
    blob = bytearray(packed)
    how = data.draw(st.sampled_from(["flip", "truncate", "length"]))
    if how == "flip":  # bytes of the header (shapes, offsets, dtypes, class lists) changed at random
        for _ in range(data.draw(st.integers(1, 8))):
            at = data.draw(st.integers(0, 8 + n - 1))
            blob[at] = data.draw(st.integers(0, 255))
    elif how == "truncate":
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    else:
        blob[:8] = struct.pack("<Q", data.draw(st.integers(0, 2**64 - 1)))
    _load(tmp_path, bytes(blob))
