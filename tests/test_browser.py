"""The built site in a real browser: Debian's headless Chromium, driven by Playwright.

Playwright's own browser downloads are never used: the test launches /usr/bin/chromium.
Without Chromium every test here is skipped with the reason.
"""
import functools
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, open_page
from test_book import SCENARIOS, toc_pages

pytestmark = [pytest.mark.browser, pytest.mark.book]


@functools.cache
def _axe_script():
    axe = pytest.importorskip("axe_playwright_python",
                              reason="axe-playwright-python is not installed")
    return (Path(axe.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


# axe's experimental rules are off by default; label-content-name-mismatch (WCAG 2.5.3, an
# accessible name that does not contain the visible text) is one of them.
_AXE_RUN = """async () => {
  const rules = Object.fromEntries(axe.getRules(["experimental"])
                                      .map(rule => [rule.ruleId, {enabled: true}]));
  const result = await axe.run(document, {resultTypes: ["violations"], rules});
  return result.violations.map(v => [v.id, v.impact, v.nodes.length, v.nodes[0].html]);
}"""


def _axe_violations(page):
    page.add_script_tag(content=_axe_script())
    # Every rule runs, the experimental ones too; only the violations are gathered node by
    # node (a fifth of the time goes to listing what passed).
    return page.evaluate(_AXE_RUN)


@functools.cache
def _status(url):
    """The status the test server answers ``url`` with."""
    try:
        with urllib.request.urlopen(url) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("name", SCENARIOS)
def test_animation_plays(visit, server, name):
    page, errors, _ = visit(f"{server}book/{name}.html")
    video = "document.querySelector('video.animation-video')"
    page.wait_for_function(f"{video}.readyState >= 1", timeout=15_000)
    assert page.evaluate(f"{video}.duration") == pytest.approx(12.0, abs=0.1)
    page.evaluate(f"{video}.play()")
    page.wait_for_function(f"{video}.currentTime > 0.5", timeout=15_000)
    assert page.evaluate(f"{video}.muted && {video}.loop")
    assert errors == []


def test_reduced_motion_readers_see_the_poster(visit, server):
    page, _, _ = visit(f"{server}book/baseline.html", reduced_motion="reduce")
    page.wait_for_timeout(1000)
    video = "document.querySelector('video.animation-video')"
    assert page.evaluate(f"{video}.paused && !{video}.autoplay")
    # The button below starts it.
    button = page.locator("button.animation-toggle").first
    assert button.inner_text() == "Play the animation"
    button.click()
    page.wait_for_function(f"{video}.currentTime > 0.3", timeout=10_000)
    assert button.inner_text() == "Pause the animation"


def test_nothing_covers_the_animation_on_a_phone_and_paper_gets_the_end_state(browser, visit, server):
    for motion in ("no-preference", "reduce"):
        page, errors, _ = visit(f"{server}book/few_obs.html", reduced_motion=motion, **PHONE)
        video = page.locator("video.animation-video").first
        # No control bar over the plot: the video draws no controls; its button is below it.
        assert page.evaluate("document.querySelector('video.animation-video').controls") is False
        button = page.locator("button.animation-toggle").first
        assert button.is_visible()
        assert button.bounding_box()["y"] >= video.bounding_box()["y"] + video.bounding_box()["height"]
        assert button.bounding_box()["height"] >= 24  # a target a thumb can hit
        assert errors == []
    # Printed: the poster (the static end-state figure), not the video's current frame.
    page, _, _ = open_page(browser, f"{server}book/few_obs.html")
    page.emulate_media(media="print")
    poster = page.evaluate("document.querySelector('video.animation-video').poster")
    printed = page.locator("figure.animation img.animation-print").first
    assert not page.locator("video.animation-video").first.is_visible()
    assert printed.is_visible() and printed.evaluate("i => i.src") == poster
    assert printed.evaluate("i => i.complete && i.naturalWidth") >= 600
    assert not page.locator("button.animation-toggle").first.is_visible()
    page.context.close()


def test_math_is_laid_out(visit, server):
    page, errors, _ = visit(f"{server}book/model.html")
    boxes = page.eval_on_selector_all(
        "math", "nodes => nodes.map(n => [n.getBoundingClientRect().width, "
                "n.getBoundingClientRect().height, n.getAttribute('display')])")
    assert len(boxes) >= 5 and all(width > 0 and height > 0 for width, height, _ in boxes)
    # Subscripts sit below the baseline: a displayed equation is taller than its 16 px text.
    assert max(height for _, height, display in boxes if display == "block") > 1.15 * 16


def _local_links(page, base):
    urls = page.eval_on_selector_all(
        "a[href], link[href], script[src], img[src], source[src], video[poster]",
        "nodes => nodes.map(n => n.href || n.src || n.poster)")
    return {url.split("#")[0] for url in urls if url.startswith(base)}


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


PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 3}


def test_menu_opens_on_a_phone_and_follows_a_link(visit, server):
    page, errors, _ = visit(f"{server}book/intro.html", **PHONE)
    menu = page.locator(".primary-toggle:visible")
    assert menu.count() == 1
    menu.tap()
    dialog = page.locator("#pst-primary-sidebar-modal")
    dialog.wait_for(state="visible", timeout=5_000)
    assert page.evaluate("document.querySelector('#pst-primary-sidebar-modal').open")
    dialog.get_by_role("link", name="The baseline").tap()
    page.wait_for_url("**/book/baseline.html", timeout=10_000)
    # "On this page" opens the page's contents the same way.
    page.locator(".secondary-toggle:visible").tap()
    page.locator("#pst-secondary-sidebar-modal").wait_for(state="visible", timeout=5_000)
    assert page.locator("#pst-secondary-sidebar-modal a").count() >= 3
    assert errors == []


def test_on_this_page_closes_after_a_choice_on_a_phone(visit, server):
    page, errors, _ = visit(f"{server}book/baseline.html", **PHONE)
    page.locator(".secondary-toggle:visible").tap()
    dialog = page.locator("#pst-secondary-sidebar-modal")
    dialog.wait_for(state="visible", timeout=5_000)
    link = dialog.locator("a[href^='#']").nth(2)
    target = link.get_attribute("href")
    link.tap()
    dialog.wait_for(state="hidden", timeout=5_000)
    assert page.evaluate("location.hash") == target
    # The chosen section is at the top of the screen, under the header, not scrolled away.
    top = page.evaluate(f"document.getElementById({target[1:]!r}).getBoundingClientRect().top")
    assert 0 <= top < 200, top
    # The drawer opens again, with its links (the theme put them back).
    page.locator(".secondary-toggle:visible").tap()
    dialog.wait_for(state="visible", timeout=5_000)
    assert dialog.locator("a").count() >= 3
    assert errors == []


def test_menu_button_collapses_the_sidebar_on_a_desktop(visit, server):
    page, errors, _ = visit(f"{server}book/intro.html")
    sidebar = page.locator("#pst-primary-sidebar")
    assert sidebar.is_visible()
    page.locator(".primary-toggle:visible").click()
    page.wait_for_timeout(500)
    assert "pst-sidebar-hidden" in sidebar.get_attribute("class")
    assert not sidebar.is_visible()
    assert errors == []


# Every output block, equation and figure of a page, measured in the browser.
_WIDE_BLOCKS = """() => {
  const blocks = document.querySelectorAll(
    '.bd-article .cell_output .output, .bd-article .cell_output pre, .bd-article .math-display,'
    + ' .bd-article img, .bd-article video, .bd-article figure');
  const view = document.documentElement.clientWidth;
  return [...blocks].map(block => {
    const style = getComputedStyle(block);
    const box = block.getBoundingClientRect();
    return {name: block.tagName + '.' + [...block.classList].join('.'),
            overflows: block.scrollWidth > block.clientWidth + 1 || box.right > view + 1,
            scrolls: ['auto', 'scroll'].includes(style.overflowX),
            cue: style.backgroundImage.includes('gradient'),
            table: block.querySelector('table') !== null};
  });
}"""


def _assert_outputs_fit_a_phone(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    blocks = page.evaluate(_WIDE_BLOCKS)
    # Text output, equations and figures fit; a table too wide for a phone scrolls in its
    # block, which shows a shadow at the edge with more to see.
    cut = [b["name"] for b in blocks if b["overflows"]
           and not (b["table"] and b["scrolls"] and b["cue"])]
    assert cut == []
    sizes = page.eval_on_selector_all(
        ".bd-article .cell_output pre",
        "nodes => nodes.map(n => parseFloat(getComputedStyle(n).fontSize))")
    assert all(size >= 9 for size in sizes), sizes
    # Figures keep their proportions when shrunk to the column (loaded now, not lazily).
    page.evaluate("Promise.all([...document.images].map(i => { i.loading = 'eager'; "
                  "return i.decode().catch(() => null); }))")
    # The picture itself: in dark mode the theme pads figures with a light margin.
    shapes = page.eval_on_selector_all(
        # (not the animations' print-only poster, which is hidden on screens)
        ".bd-article figure img:not(video img):not(.animation-print)",
        """nodes => nodes.map(n => {
             const s = getComputedStyle(n), box = n.getBoundingClientRect();
             const across = ['Left', 'Right'].reduce((sum, side) => sum
               - parseFloat(s['padding' + side]) - parseFloat(s['border' + side + 'Width']), box.width);
             const down = ['Top', 'Bottom'].reduce((sum, side) => sum
               - parseFloat(s['padding' + side]) - parseFloat(s['border' + side + 'Width']), box.height);
             return [n.naturalWidth / n.naturalHeight, across / down];
           })""")
    assert all(drawn == pytest.approx(natural, rel=0.02) for natural, drawn in shapes), shapes


def _assert_loads_cleanly(page, errors, failures):
    requested = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    local_failures = [url for url in failures if "127.0.0.1" in url]
    assert errors == [] and local_failures == [], (errors, local_failures)
    # Header and navigation icons, drawn inline: no icon font, no icon script.
    assert page.locator("svg.svg-inline--fa").count() >= 5
    assert page.locator("i[class*='fa-']").count() == 0
    assert [url for url in requested if url.endswith((".woff2", ".woff", ".ttf"))
            or "fontawesome" in url] == []


def _assert_links_resolve(page, server, page_name):
    """Every local link, download, script, image and poster of the page is there."""
    links = _local_links(page, server)
    assert len(links) > 20
    if page_name.endswith(tuple(SCENARIOS)) or page_name == "book/model":
        assert any(url.endswith(".ipynb") for url in links), page_name
    assert {url: _status(url) for url in links if _status(url) != 200} == {}


def test_axe_reports_a_name_that_hides_the_visible_text_and_low_contrast(browser):
    # The scan of every page below must be able to fail: on a page made to break two
    # rules, one of them experimental, it reports both.
    page = browser.new_page()
    page.set_content('<html lang="en"><head><title>t</title></head><body><main>'
                     '<button aria-label="Find">Search now</button>'
                     '<p style="color:#ccc;background:#fff">faint</p></main></body></html>')
    found = {violation[0] for violation in _axe_violations(page)}
    page.close()
    assert {"label-content-name-mismatch", "color-contrast"} <= found


# One visit per page on a desktop and one on a phone (in dark mode), for every check
# that reads the whole page.
@pytest.mark.parametrize("page_name", toc_pages())
def test_each_page_on_a_desktop_and_a_phone(visit, server, page_name):
    desktop, errors, failures = visit(server + page_name + ".html")
    _assert_loads_cleanly(desktop, errors, failures)
    _assert_links_resolve(desktop, server, page_name)
    # Stricter than the target (no serious or critical problem): axe reports nothing,
    # on a desktop and on a phone, in light and dark mode.
    assert _axe_violations(desktop) == []
    phone, _, _ = visit(server + page_name + ".html", **PHONE, color_scheme="dark")
    assert _axe_violations(phone) == []
    _assert_outputs_fit_a_phone(phone)


def test_dark_mode_follows_the_system_and_dims_the_animation(browser, server):
    page, errors, _ = open_page(browser, f"{server}book/baseline.html", color_scheme="dark")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.evaluate("document.documentElement.dataset.mode") == "auto"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert sum(int(c) for c in background[4:-1].split(",")[:3]) < 3 * 64, background
    video_filter = page.evaluate(
        "getComputedStyle(document.querySelector('video.animation-video')).filter")
    assert "brightness(0.8)" in video_filter
    # The first click of the switch changes what the reader sees.
    page.locator(".theme-switch-button:visible").first.click()
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    assert errors == []
    page.context.close()
    light, _, _ = open_page(browser, f"{server}book/baseline.html", color_scheme="light")
    assert light.evaluate("document.documentElement.dataset.theme") == "light"
    light.locator(".theme-switch-button:visible").first.click()
    assert light.evaluate("document.documentElement.dataset.theme") == "dark"
    light.context.close()


def test_search_from_a_chapter_finds_pages(browser, server):
    # Chapters no longer load the search scripts; the search page does its work.
    page, errors, _ = open_page(browser, f"{server}book/intro.html")
    page.keyboard.press("Control+k")
    page.keyboard.type("shrinkage")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search.html?q=shrinkage", timeout=10_000)
    # Sphinx's search shows its results one at a time: wait for five, not for the first.
    page.wait_for_function("document.querySelectorAll('#search-results li').length >= 5",
                           timeout=10_000)
    assert page.locator("#search-results li").count() >= 5
    assert errors == []
    page.context.close()


def test_the_test_server_compresses_text_as_github_pages_does(server):
    import gzip

    request = urllib.request.Request(server + "book/baseline.html",
                                     headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        page = gzip.decompress(response.read()).decode()
    assert "<title>The baseline" in page
    with urllib.request.urlopen(server + "_images/baseline.png") as response:
        assert response.headers["Content-Encoding"] is None  # already compressed


@pytest.mark.parametrize("page_name", ["book/statsmodels", "book/validation"])
def test_code_keeps_its_indentation_on_a_phone(visit, server, page_name):
    # A wrapped line would start at column 0 and hide the block structure; each source
    # line stays one line, and a block wider than the phone scrolls inside itself.
    page, _, _ = visit(server + page_name + ".html", **PHONE)
    blocks = page.eval_on_selector_all(".bd-article .cell_input pre", """nodes => nodes.map(n => {
        const style = getComputedStyle(n);
        const lines = n.textContent.replace(/\\n$/, '').split('\\n').length;
        const height = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.5;
        return {space: style.whiteSpace, scrolls: ['auto', 'scroll'].includes(style.overflowX),
                wide: n.scrollWidth > n.clientWidth + 1, lines: lines,
                drawn: Math.round((n.clientHeight - parseFloat(style.paddingTop)
                                   - parseFloat(style.paddingBottom)) / height)};
    })""")
    assert blocks
    for block in blocks:
        assert block["space"] == "pre", block
        assert block["drawn"] <= block["lines"] + 1, block   # no line wrapped
        assert not block["wide"] or block["scrolls"], block
    assert any(block["wide"] for block in blocks)  # the case that used to wrap
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_download_menu_saves_files(browser, server):
    # The .md and .ipynb items download (the source used to open as raw text).
    page, errors, _ = open_page(browser, f"{server}book/baseline.html", accept_downloads=True)
    for selector, name in (("a.btn-download-source-button", "baseline.md"),
                           ("a.btn-download-notebook-button", "baseline.ipynb")):
        page.locator(".dropdown-download-buttons button.dropdown-toggle").click()
        with page.expect_download(timeout=10_000) as download:
            page.locator(selector).click()
        assert download.value.suggested_filename == name
    assert errors == []
    page.context.close()
