"""Pages that are light, work on phones and follow the reader's colour scheme.

After the build, every page is rewritten (each step can be repeated harmlessly, since
an incremental build leaves unchanged pages as they were):

* icons drawn inline (``inline_icons``), so no icon font or icon script loads;
* the menu buttons work: sphinx-book-theme 1.3 keeps pydata-sphinx-theme's own header,
  hidden, whose "menu" and "on this page" buttons come first in the page, and the theme
  scripts bind the first match only (pydata-sphinx-theme#2451); the hidden pair is removed;
* scripts never block the first paint: every script of the head is deferred (inline ones
  that use what those scripts define become ``data:`` scripts, which keeps their order;
  inline declarations stay, since later scripts read them), and pages other than the
  search page skip the search scripts and index, which only the search page uses;
* the colour scheme follows the reader's system until they choose one with the switch,
  from the first paint on;
* text outputs carry the length of their longest line, so that ``site.css`` can shrink
  them to fit a phone;
* empty table header cells (pandas' corner cells) become plain cells;
* accessible names match visible labels (code toggles, the search field button), the
  bibliography uses list roles that are still in ARIA, and the sidebar is a landmark.

Figures in ``_images`` are stored with a 256-colour palette. Each page also gets a
``<meta name="description">`` from its opening paragraph.
"""

import hashlib
import html
import re
import urllib.parse
from pathlib import Path

from docutils import nodes
from inline_icons import icon_css, inline_icons

DESCRIPTION_LENGTH = 155
_HIDDEN_TOGGLE = re.compile(
    r'\s*<button class="pst-navbar-icon sidebar-toggle (?:primary|secondary)-toggle"'
    r'[^>]*>.*?</button>', re.S)
_SEARCH_SCRIPTS = re.compile(
    r'\s*<script[^>]*src="[^"]*(?:searchtools\.js|language_data\.js|searchindex\.js)"[^>]*>'
    r'</script>')
_HEAD_SCRIPT = re.compile(r"<script(?P<attributes>[^>]*)>(?P<code>.*?)</script>", re.S)
_THEME_INIT = re.compile(r'(<script data-cfasync="false">)(.*?)(</script>)', re.S)
_DEFAULT_MODE = re.compile(r'localStorage\.getItem\("mode"\) \|\| "(\w+)"')
# Before the first paint: the stored choice, else the configured default (``auto``: the
# system's scheme).
THEME_INIT = """
    const mode = localStorage.getItem("mode") || "{default}";
    const system = matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
    document.documentElement.dataset.mode = mode;
    document.documentElement.dataset.theme = mode === "auto" ? system : mode;
  """
# An inline script that only declares a value needs nothing loaded before it: it stays.
_DECLARATION = re.compile(r"\s*(?:let|var|const) \w+ = [^;]*;?\s*")
_TEXT_OUTPUT = re.compile(r'(<div class="output (?:stream|text_plain)[^"]*">'
                          r'<div class="highlight"><pre)>(.*?)</pre>', re.S)
# Longest line that fits a 358 px phone column at 9 px: longer ones wrap.
SCALED_CHARS = 64
# pandas leaves the corner cells above an index as empty headers, which head nothing.
_EMPTY_HEADER = re.compile(r"<th((?: (?!scope)[\w-]+=\"[^\"]*\")*)(?: scope=\"\w+\")? ?>"
                           r"(?:\s|&nbsp;)*</th>")
_THEBE_CSS = re.compile(r'\s*<link[^>]*sphinx-thebe\.css[^>]*/>')
_STYLE_MARK = "<style id=\"site-icons\">"


def _defer(match):
    attributes, code = match.group("attributes"), match.group("code")
    if "data-cfasync" in attributes or "defer" in attributes or "async" in attributes or (
            "type=" in attributes and "text/javascript" not in attributes):
        return match.group(0)
    if "src=" in attributes:
        return f"<script defer{attributes}></script>"
    if _DECLARATION.fullmatch(code):
        return match.group(0)
    source = "data:text/javascript," + urllib.parse.quote(code.strip())
    return f'<script defer src="{source}"></script>'


def _theme_init(match):
    start, code, end = match.groups()
    default = _DEFAULT_MODE.search(code)
    return start + THEME_INIT.replace("{default}", default.group(1) if default else "auto") + end


def _fit_output(match):
    start, text = match.groups()
    lines = html.unescape(re.sub(r"<[^>]+>", "", text)).splitlines() or [""]
    chars = max(len(line.rstrip()) for line in lines)
    attribute = f' style="--chars: {max(chars, 1)}"' if chars <= SCALED_CHARS else (
        ' class="wrap-lines"')
    return f"{start}{attribute}>{text}</pre>"


def polish(page_html, search_page=False):
    """Return ``page_html`` rewritten as described in the module docstring."""
    page_html = inline_icons(page_html)
    page_html = _HIDDEN_TOGGLE.sub("", page_html, count=2)
    page_html = page_html.replace('<summary aria-label="Toggle hidden content">', "<summary>")
    page_html = re.sub(r'(<button class="btn search-button-field[^>]*?) aria-label="Search"',
                       r"\1", page_html)
    page_html = page_html.replace('role="doc-biblioentry"', 'role="listitem"')
    # The sidebar holds the book's title as well as its menu: a landmark for both.
    page_html = page_html.replace(
        '<div id="pst-primary-sidebar" class="bd-sidebar-primary bd-sidebar">',
        '<div id="pst-primary-sidebar" class="bd-sidebar-primary bd-sidebar" '
        'role="complementary" aria-label="Book contents">')
    page_html = _THEME_INIT.sub(_theme_init, page_html)
    page_html = _THEBE_CSS.sub("", page_html)
    page_html = _TEXT_OUTPUT.sub(_fit_output, page_html)
    page_html = _EMPTY_HEADER.sub(r"<td\1></td>", page_html)
    # Figures below the first screen load as the reader reaches them.
    page_html = re.sub(r'(<a class="reference internal image-reference"[^>]*>)<img (?!loading)',
                       r'\1<img loading="lazy" decoding="async" ', page_html)
    head_end = page_html.index("</head>")
    head, body = page_html[:head_end], page_html[head_end:]
    if not search_page:
        head = _SEARCH_SCRIPTS.sub("", head)
        head = _HEAD_SCRIPT.sub(_defer, head)
    if _STYLE_MARK not in head:
        head += f"{_STYLE_MARK}{icon_css()}</style>\n"
    return head + body


def description(doctree):
    """The text of the page's first plain paragraph, cut to ``DESCRIPTION_LENGTH`` at a word."""
    for paragraph in doctree.findall(nodes.paragraph):
        # Skip the italic attribution line that opens each chapter.
        if not isinstance(paragraph.parent, nodes.section) or (
                len(paragraph.children) == 1 and isinstance(paragraph[0], nodes.emphasis)):
            continue
        text = " ".join(paragraph.astext().split())
        if len(text) < 40:
            continue
        if len(text) > DESCRIPTION_LENGTH:
            text = text[:DESCRIPTION_LENGTH - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
        return text
    return None


def _add_description(app, pagename, templatename, context, doctree):
    text = description(doctree) if doctree is not None else None
    if text:
        context["metatags"] = context.get("metatags", "") + (
            f'\n<meta name="description" content="{html.escape(text, quote=True)}" />')


def optimise_png(path):
    """Store a notebook's full-colour PNG figure in a palette, as the package's own are."""
    from PIL import Image

    from shrinkage.output import save_palette_png

    with Image.open(path) as image:
        if image.mode == "P":
            return
    save_palette_png(path, path)


def _build_finished(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for image in (Path(app.outdir) / "_images").glob("*.png"):
        optimise_png(image)
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if "</head>" not in text:  # a fragment, such as a downloaded output
            continue
        polished = polish(text, search_page=page.name == "search.html")
        if polished != text:
            page.write_text(polished, encoding="utf-8")


def _site_sources_version():
    """A number that changes with the book's extensions and its own static files."""
    book = Path(__file__).parents[1]
    digest = hashlib.sha256()
    for source in sorted([*(book / "_ext").glob("*.py"), *(book / "_static").rglob("*.*")]):
        digest.update(source.name.encode() + source.read_bytes())
    return int(digest.hexdigest()[:8], 16)


def setup(app):
    app.add_css_file("site.css")
    app.add_js_file("site.js", loading_method="defer")
    app.connect("html-page-context", _add_description)
    app.connect("build-finished", _build_finished)
    # Editing an extension or a static file rewrites every page and copies the static
    # files (from cached outputs, without executing); otherwise a build with no changed
    # chapter would skip both.
    return {"env_version": _site_sources_version(), "parallel_read_safe": True,
            "parallel_write_safe": True}
