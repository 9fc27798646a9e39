"""The built site in a real browser: Debian's headless Chromium, driven by Playwright.

Playwright's own browser downloads are never used: the test launches /usr/bin/chromium.
Without Chromium every test here is skipped with the reason.
"""
import functools
import os
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ROOT
from test_book import SCENARIOS, toc_pages

pytestmark = [pytest.mark.browser, pytest.mark.book]

# Debian's chromium by default; $CHROMIUM names another installed Chromium-based browser.
CHROMIUM = shutil.which(os.environ.get("CHROMIUM", "chromium"))
# Chromium on a closed network: no background services, no sandbox (root in CI).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip(f"no browser: {os.environ.get('CHROMIUM', 'chromium')!r} is not on PATH "
                    "(install Debian's 'chromium' package; .ci/run does so when run as root)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (requirements-test.txt)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, url, **context_options):
    """Open ``url``; return the page and lists of console errors and failed local loads."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors, failures = [], []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: failures.append(request.url))
    page.on("response", lambda response: response.status >= 400 and failures.append(
        f"{response.status} {response.url}"))
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, errors, failures


@pytest.mark.parametrize("page_name", toc_pages())
def test_page_loads_cleanly(browser, server, page_name):
    page, errors, failures = open_page(browser, server + page_name + ".html")
    local_failures = [url for url in failures if "127.0.0.1" in url]
    assert errors == [] and local_failures == [], (errors, local_failures)
    # Header and navigation icons, drawn from the site's icon subset.
    assert page.locator("svg.svg-inline--fa").count() >= 5
    assert page.locator("i[class*='fa-']").count() == 0
    page.context.close()


@pytest.mark.parametrize("name", SCENARIOS)
def test_animation_plays(browser, server, name):
    page, errors, _ = open_page(browser, f"{server}book/{name}.html")
    video = "document.querySelector('video.animation-video')"
    page.wait_for_function(f"{video}.readyState >= 1", timeout=15_000)
    assert page.evaluate(f"{video}.duration") == pytest.approx(12.0, abs=0.1)
    page.evaluate(f"{video}.play()")
    page.wait_for_function(f"{video}.currentTime > 0.5", timeout=15_000)
    assert page.evaluate(f"{video}.muted && {video}.loop")
    assert errors == []
    page.context.close()


def test_reduced_motion_readers_see_the_poster(browser, server):
    page, _, _ = open_page(browser, f"{server}book/baseline.html", reduced_motion="reduce")
    page.wait_for_timeout(1000)
    video = "document.querySelector('video.animation-video')"
    assert page.evaluate(f"{video}.paused && !{video}.autoplay")
    page.context.close()


def test_math_is_laid_out(browser, server):
    page, errors, _ = open_page(browser, f"{server}book/model.html")
    boxes = page.eval_on_selector_all(
        "math", "nodes => nodes.map(n => [n.getBoundingClientRect().width, "
                "n.getBoundingClientRect().height, n.getAttribute('display')])")
    assert len(boxes) >= 5 and all(width > 0 and height > 0 for width, height, _ in boxes)
    # A displayed fraction-free equation is still taller than a line of text.
    assert max(height for _, height, display in boxes if display == "block") > 20
    page.context.close()


def _local_links(page, base):
    urls = page.eval_on_selector_all(
        "a[href], link[href], script[src], img[src], source[src], video[poster]",
        "nodes => nodes.map(n => n.href || n.src || n.poster)")
    return {url.split("#")[0] for url in urls if url.startswith(base)}


def test_download_and_navigation_links_resolve(browser, server):
    checked = set()
    for page_name in toc_pages():
        page, _, _ = open_page(browser, server + page_name + ".html")
        links = _local_links(page, server)
        if page_name.endswith(tuple(SCENARIOS)) or page_name == "book/model":
            assert any(url.endswith(".ipynb") for url in links), page_name
        for url in links - checked:
            try:
                with urllib.request.urlopen(url) as response:
                    assert response.status == 200, url
            except urllib.error.HTTPError as error:
                pytest.fail(f"{page_name}: {url} -> {error.code}")
        checked |= links
        page.context.close()
    assert len(checked) > 20


def test_screenshots_for_review(browser, server):
    target = ROOT / "_build" / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    page, _, _ = open_page(browser, f"{server}book/baseline.html",
                           viewport={"width": 1280, "height": 900})
    page.screenshot(path=str(target / "baseline.png"), full_page=True)
    page.context.close()
    phone, _, _ = open_page(browser, f"{server}book/baseline.html",
                            viewport={"width": 390, "height": 844}, is_mobile=True)
    # On a phone the page must not scroll sideways.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    phone.screenshot(path=str(target / "baseline-phone.png"), full_page=False)
    phone.context.close()
    assert (target / "baseline.png").stat().st_size > 50_000
