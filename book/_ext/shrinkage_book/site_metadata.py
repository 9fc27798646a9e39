"""What browsers, search engines and link previews read: the site's metadata.

Everything comes from one setting, ``repository.url`` in ``_config.yml``: the site's
address on GitHub Pages (``https://OWNER.github.io/REPO/``) becomes ``html_baseurl``,
from which Sphinx writes each page's canonical link.  Each page then gets

* Open Graph and Twitter card tags: title, description (the page's opening paragraph,
  see ``site_pages.description``), address and a preview image (the page's first
  figure, else the baseline's end-state figure);
* a PNG favicon and an Apple touch icon beside the SVG one, drawn here from the same
  shapes, and one viewport tag (docutils and pydata-sphinx-theme repeat Sphinx's; the
  theme's is taken out by ``book/_templates/layout.html``);

and the site gets ``sitemap.xml``, ``robots.txt`` pointing to it, and a ``404.html``
whose links are absolute, since GitHub Pages serves it for a missing page at any depth.
"""

import html
import re
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from .site_pages import description

_GITHUB = re.compile(r"^https://github\.com/([^/]+)/([^/]+?)/?$")
_FIRST_IMAGE = re.compile(r'<img[^>]*src="(?:\.\./)*(_images/[^"]+\.png)"')
PREVIEW_IMAGE = "_images/baseline.png"
_DOCUTILS_VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1" />\n'

SEARCH_DESCRIPTION = "Search the book Shrinkage in Mixed Models: partial pooling, explained and computed."
# The favicon's shapes (book/_static/favicon.svg), on a 32-unit square.
_ICON_SHAPES = [("rect", (0, 0, 32, 32), "#fffff8"), ("circle", (9, 10, 4), "#F49E71"),
                ("circle", (24, 23, 4), "#F49E71"), ("circle", (16, 16, 6), "#525252"),
                ("circle", (12, 12, 3), "#808133"), ("circle", (20, 20, 3), "#808133")]
ICONS = {"favicon-32.png": 32, "apple-touch-icon.png": 180}


def site_url(repository_url):
    """The GitHub Pages address of ``https://github.com/OWNER/REPO``, or None."""
    match = _GITHUB.match(repository_url or "")
    if not match:
        return None
    owner, repo = match.groups()
    return f"https://{owner.lower()}.github.io/{repo}/"


def _set_base_url(app, config):
    if not config.html_baseurl:
        config.html_baseurl = site_url(config.html_theme_options.get("repository_url")) or ""


def _meta(prop, content, attribute="property"):
    return f'\n<meta {attribute}="{prop}" content="{html.escape(content, quote=True)}" />'


def _add_tags(app, pagename, templatename, context, doctree):
    base = app.config.html_baseurl
    text = description(doctree) if doctree is not None else None
    if pagename == "search":
        text = SEARCH_DESCRIPTION
        context["metatags"] = context.get("metatags", "") + _meta("description", text, "name")
    title = html.unescape(re.sub(r"<[^>]+>", "", context.get("title") or ""))
    book = app.config.html_title or app.config.project
    tags = _meta("og:type", "website") + _meta("og:site_name", book)
    tags += _meta("og:title", f"{title} | {book}" if title and title != book else book)
    if text:
        tags += _meta("og:description", text)
    if base:
        tags += _meta("og:url", f"{base}{pagename}.html")
        body = context.get("body") or ""
        image = _FIRST_IMAGE.search(body)
        tags += _meta("og:image", base + (image.group(1) if image else PREVIEW_IMAGE))
    tags += _meta("twitter:card", "summary_large_image", "name")
    # docutils' own viewport tag repeats the one of Sphinx's layout.
    context["metatags"] = context.get("metatags", "").replace(_DOCUTILS_VIEWPORT, "")
    root = "../" * pagename.count("/")
    tags += (f'\n<link rel="icon" type="image/png" sizes="32x32" '
             f'href="{root}_static/favicon-32.png" />'
             f'\n<link rel="apple-touch-icon" href="{root}_static/apple-touch-icon.png" />')
    context["metatags"] = context.get("metatags", "") + tags


def draw_icon(size):
    """The favicon's picture as a ``size`` x ``size`` RGBA image."""
    from PIL import Image, ImageDraw

    scale = size / 32
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for shape, numbers, colour in _ICON_SHAPES:
        if shape == "rect":
            draw.rounded_rectangle([0, 0, size - 1, size - 1], radius=6 * scale, fill=colour)
        else:
            x, y, r = (value * scale for value in numbers)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    return image


def _page_urls(app):
    return [f"{app.config.html_baseurl}{docname}.html" for docname in sorted(app.env.found_docs)]


def not_found_page(base, title):
    """A self-contained 404 page whose links work from any depth."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>Page not found | {html.escape(title)}</title>
<meta name="robots" content="noindex" />
<link rel="icon" href="{base}_static/favicon.svg" type="image/svg+xml" />
<style>
  body {{ font-family: system-ui, sans-serif; margin: 0; padding: 3rem 1.5rem;
         background: #fff; color: #222; line-height: 1.5; }}
  main {{ max-width: 36rem; margin: 0 auto; }}
  a {{ color: #0b5394; }}
  @media (prefers-color-scheme: dark) {{
    body {{ background: #121212; color: #ddd; }} a {{ color: #8ab4f8; }} }}
</style>
</head>
<body>
<main>
<h1>Page not found</h1>
<p>There is no page at this address in <em>{html.escape(title)}</em>.</p>
<p><a href="{base}index.html">Go to the start of the book</a> or
<a href="{base}search.html">search it</a>.</p>
</main>
</body>
</html>
"""


def _write_site_files(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    out, base = Path(app.outdir), app.config.html_baseurl
    for name, size in ICONS.items():
        draw_icon(size).save(out / "_static" / name, format="png", optimize=True)
    title = app.config.html_title or app.config.project
    (out / "404.html").write_text(not_found_page(base or "/", title), encoding="utf-8")
    if not base:
        return
    urls = "".join(f"  <url><loc>{xml_escape(url)}</loc></url>\n" for url in _page_urls(app))
    (out / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{urls}</urlset>\n", encoding="utf-8")
    (out / "robots.txt").write_text(f"User-agent: *\nAllow: /\nSitemap: {base}sitemap.xml\n",
                                    encoding="utf-8")


def connect(app):
    app.connect("config-inited", _set_base_url)
    app.connect("html-page-context", _add_tags)
    app.connect("build-finished", _write_site_files)
