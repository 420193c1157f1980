"""glyph studio in a real browser: headless Chromium from the distribution's packages (Debian's
chromium-headless-shell, installed by `.ci/setup --dev`), driven by Playwright for Python (no browser download).

The handwriting flow as a visitor does it: upload the bundled writer's photos, type a text, wait for it, download
the font and open it with fontTools; a corrupt image and a 20,000 x 20,000 image get their messages; the restore
and explore tabs; a phone-sized screenshot (GLYPH_STUDIO_SCREENSHOT=docs/img/studio.png writes the one in
docs/studio.md).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import REPO
from .test_studio import HAND, INSCRIPTION, huge_png

CHROMIUM = ("/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium",
            shutil.which("chromium-headless-shell") or "", shutil.which("chromium") or "")


def _browser_or_skip() -> str:
    required = os.environ.get("GLYPH_REQUIRE_BROWSER") == "1"
    found = next((c for c in CHROMIUM if c and Path(c).is_file()), None)
    try:
        import playwright.sync_api  # noqa: F401
        import starlette  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        why = ("the browser tests need Playwright and Chromium from the distribution: bash .ci/setup --dev installs "
               "them (apt chromium-headless-shell on Debian; Ubuntu's chromium is a snap Playwright cannot drive)")
        if required:
            pytest.fail(why)
        pytest.skip(why)
    return found


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="module")
def browser():
    executable = _browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import glyph.studio

    running = glyph.studio.start(port=0, device="cpu", root=tmp_path_factory.mktemp("studio"))
    yield running
    running.stop()


def test_write_like_me_and_download_the_font(browser, server, tmp_path):
    from fontTools.ttLib import TTFont

    # A phone's screen: the page must work there too.
    shot = os.environ.get("GLYPH_STUDIO_SCREENSHOT")
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url)
    page.set_input_files("#refs-files", [str(p) for p in sorted(HAND.glob("*.jpg"))])
    expect(page.locator("#refs li")).to_have_count(8)
    assert "8 references, 8 named after their character" in page.inner_text("#refs-count")
    assert page.is_enabled("#adapt")

    # A corrupt photo and a 20,000 x 20,000 one: a line each, the rest kept.
    corrupt = tmp_path / "壞.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    huge = tmp_path / "huge.png"
    huge.write_bytes(huge_png())
    page.set_input_files("#refs-files", [str(corrupt), str(huge)])
    page.wait_for_selector("#messages p.error")
    message = page.inner_text("#messages")
    assert "壞.png:" in message and "not an image" in message
    assert "huge.png: 400,000,000 pixels is more than glyph accepts" in message
    assert page.locator("#refs li").count() == 8

    # Remove one reference, then write.
    page.click("#refs li:first-child .remove")
    expect(page.locator("#refs li")).to_have_count(7)
    page.fill("#text", "永和九年，岁在癸丑")
    assert page.is_checked("#adapt")  # on by default once references are named
    if not shot:  # adapting takes a minute here: the suite checks the rest; the docs' picture shows the default
        page.uncheck("#adapt")
    page.click("#write-go")
    page.wait_for_selector("#write-result:not([hidden])", timeout=300_000)
    assert page.locator("#glyphs li").count() == 8
    assert page.locator("#preview").evaluate("img => img.complete && img.naturalWidth > 0")

    page.fill("#font-name", "Browser Hand")
    page.click("#font-go")
    page.wait_for_selector("#font-done:not([hidden])", timeout=300_000)
    with page.expect_download() as download:
        page.click("#font-link")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "BrowserHand.otf"
    font = TTFont(saved)
    assert set("永和九年岁在癸丑") <= {chr(c) for c in font.getBestCmap()}
    assert font["name"].getDebugName(1) == "Browser Hand"

    page.locator("#messages").evaluate("m => m.replaceChildren()")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=shot or str(tmp_path / "studio.png"), full_page=True)
    assert not errors, errors
    context.close()


def test_restore_and_explore(browser, server):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url)
    page.click("#tab-restore")
    files = sorted(INSCRIPTION.glob("*.png"))
    page.set_input_files("#restore-files", [str(p) for p in files])
    page.click("#restore-go")
    page.wait_for_selector("#restore-result:not([hidden])", timeout=180_000)
    rows = page.locator("#restore-table tbody tr")
    assert rows.count() == len(files)
    assert page.locator("#restore-table tbody tr img[alt=uncertainty]").count() == len(files)
    flagged = page.locator("#restore-table tbody tr.flagged").count()
    assert f"{len(files)} restored" in page.inner_text("#messages")
    if flagged:
        assert "to check by eye" in page.inner_text("#messages")

    page.click("#tab-explore")
    page.wait_for_selector("#methods tbody tr")
    names = page.locator("#methods tbody tr strong").all_inner_texts()
    assert {"dcgan", "ddpm", "dsfgan", "filter", "progan", "restorecae", "vae"} <= set(names)
    page.locator("#methods tbody tr", has_text="restorecae").get_by_text("model card").click()
    page.wait_for_selector("#card:not([hidden]) h1")
    assert page.inner_text("#card h1").startswith("restorecae")
    page.locator("#methods tbody tr", has_text="dcgan").get_by_role("button", name="samples").click()
    page.fill("#sample-n", "4")
    page.click("#sample-go")
    expect(page.locator("#samples img")).to_have_count(4, timeout=120_000)
    assert not errors, errors
    page.close()


def test_on_a_phone_nothing_needs_a_sideways_scroll(browser, server, tmp_path):
    """Every button of the explore table and every restore verdict fits a 390 px wide screen."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page.goto(server.url)
    page.click("#tab-explore")
    page.wait_for_selector("#methods tbody tr")
    for button in page.locator("#methods button").all():
        box = button.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390, button.inner_text()
    page.click("#tab-restore")
    page.set_input_files("#restore-files", [str(p) for p in sorted(INSCRIPTION.glob("*.png"))])
    assert "8 chosen: " in page.inner_text("#restore-chosen")
    page.click("#restore-go")
    page.wait_for_selector("#restore-result:not([hidden])", timeout=180_000)
    right = page.locator("#restore-result .scroll").bounding_box()
    right = right["x"] + right["width"]
    for cell in page.locator("#restore-table tbody td:last-child").all():
        box = cell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= right + 0.5  # no part scrolled out of sight
    page.screenshot(path=str(tmp_path / "restore-phone.png"), full_page=True)
    page.close()


def test_the_page_needs_nothing_from_elsewhere(browser, server):
    """Every request the page makes goes to the studio itself (no CDN, no font service)."""
    page = browser.new_page()
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.goto(server.url)
    page.wait_for_load_state("networkidle")
    assert seen and all(u.startswith(server.url) for u in seen), seen
    page.close()


def test_screenshot_in_docs_exists():
    assert (REPO / "docs" / "img" / "studio.png").is_file()
