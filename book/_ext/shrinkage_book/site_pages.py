"""Pages that are light, work on phones and follow the reader's colour scheme.

Each change is made in the layer Sphinx provides for it:

* **templates** (``book/_templates``, extending the theme's): the colour scheme follows
  the reader's system until they choose one with the switch, from the first paint on,
  and the Font Awesome script is not loaded (``layout.html``, block ``css``); one
  viewport tag, and the search scripts and index only on the search page, which loads
  them itself (block ``extrahead``); the theme's hidden header without its own pair of
  sidebar toggles, which the theme scripts would bind instead of the visible ones
  (``sections/header.html``, pydata-sphinx-theme#2451); the sidebar as a landmark
  (``sections/sidebar-primary.html``); the search button named by its visible text
  (``search-button-field.html``, where sphinx-book-theme's sidebar looks for it);
* **the page context** (``html-page-context``): every script is deferred, so none
  blocks the first paint (except on the search page, whose search script runs while the
  page is parsed and needs them) (inline code that uses what those scripts define runs when
  the page is parsed, after them; inline declarations stay as they are); the Thebe
  stylesheet goes (the book has no launch buttons); the inline icons' CSS and the
  widths of the page's text outputs become a ``<style>`` in the head; a
  ``<meta name="description">`` from the opening paragraph;
* **the doctree and node visitors**: text outputs carry the length of their longest
  line as a class, so that ``site.css`` can shrink them to fit a phone (longer ones
  wrap); pandas' empty corner header cells become plain cells; figures load lazily;
  hidden code is toggled by its visible text (no differing aria-label); the
  bibliography uses list roles that are still in ARIA.

After the build, one pass over the finished pages draws the theme's icons inline
(``inline_icons``: nothing else can reach the icons of the theme's many templates); a
page without any icon stops the build, since that means the theme's markup changed.
Figures are stored with a 256-colour palette: a notebook's figure once, where myst-nb
writes it, when its page is read (``doctree-read``); any other PNG in ``_images`` after
the build.
"""

import hashlib
import html
import re
from pathlib import Path

from docutils import nodes

from . import compat
from .inline_icons import icon_css, inline_icons

DESCRIPTION_LENGTH = 155
# Longest line that fits a 358 px phone column at 9 px: longer ones wrap.
SCALED_CHARS = 64
# An inline script that only declares a value needs nothing loaded before it: it stays.
_DECLARATION = re.compile(r"\s*(?:let|var|const) \w+ = [^;]*;?\s*")
# pandas leaves the corner cells above an index as empty headers, which head nothing.
_EMPTY_HEADER = re.compile(r"<th((?: (?!scope)[\w-]+=\"[^\"]*\")*)(?: scope=\"\w+\")? ?>"
                           r"(?:\s|&nbsp;)*</th>")
_FIT = re.compile(r"fit-(\d+)")


# --- page context -------------------------------------------------------------------------

def deferred(script):
    """``script`` (a Sphinx script asset, :data:`compat.JavaScript`) made so that it does not
    block the first paint."""
    attributes = dict(script.attributes)
    if script.filename:
        if not ({"defer", "async"} & set(attributes) or attributes.get("type", "text/javascript")
                != "text/javascript"):
            attributes["defer"] = "defer"
        return compat.JavaScript(script.filename, priority=script.priority, **attributes)
    body = attributes.get("body", "")
    if _DECLARATION.fullmatch(body):
        return script
    attributes["body"] = f'document.addEventListener("DOMContentLoaded", () => {{ {body.strip()} }});'
    return compat.JavaScript(script.filename, priority=script.priority, **attributes)


def _output_css(doctree):
    """Rules giving each text output width class of the page its ``--chars``."""
    widths = sorted({int(match.group(1)) for node in doctree.findall(nodes.literal_block)
                     for name in node["classes"] for match in [_FIT.fullmatch(name)] if match})
    return "".join(f".fit-{width} pre{{--chars:{width}}}" for width in widths)


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


def _page_context(app, pagename, templatename, context, doctree):
    if pagename != "search":  # Sphinx's search page runs its search script while parsing
        context["script_files"] = [deferred(script) for script in context.get("script_files", [])]
    context["css_files"] = [sheet for sheet in context.get("css_files", [])
                            if "sphinx-thebe" not in str(sheet.filename)]
    context["icon_css"] = icon_css() + (_output_css(doctree) if doctree is not None else "")
    text = description(doctree) if doctree is not None else None
    if text:
        context["metatags"] = context.get("metatags", "") + (
            f'\n<meta name="description" content="{html.escape(text, quote=True)}" />')


# --- doctree and node visitors ------------------------------------------------------------

def output_width_class(text):
    """``fit-N`` for a text output whose longest line has N <= ``SCALED_CHARS`` characters,
    else ``wrap-lines``."""
    chars = max((len(line.rstrip()) for line in text.splitlines()), default=0)
    return f"fit-{max(chars, 1)}" if chars <= SCALED_CHARS else "wrap-lines"


def without_empty_headers(markup):
    """HTML with empty ``<th>`` cells (no text) written as ``<td>``."""
    return _EMPTY_HEADER.sub(r"<td\1></td>", markup)


def _resolved(app, doctree, docname):
    for block in doctree.findall(nodes.literal_block):
        if "output" in block["classes"] and ({"stream", "text_plain"} & set(block["classes"])):
            block["classes"].append(output_width_class(block.astext()))
    for raw in list(doctree.findall(nodes.raw)):
        if "html" in raw.get("format", "").split() and "<th" in raw.astext():
            markup = without_empty_headers(raw.astext())
            if markup != raw.astext():
                raw.replace_self(nodes.raw(markup, markup, format=raw["format"]))
    # Figures below the first screen load as the reader reaches them.
    for figure in doctree.findall(nodes.figure):
        for image in figure.findall(nodes.image):
            image["loading"] = "lazy"


def visit_hidden_code(translator, node):
    classes = " ".join(node["classes"])
    translator.body.append(f'<details class="admonition hide {classes}">\n<summary>\n'
                           f'<p class="collapsed admonition-title">{html.escape(node["prompt_show"])}</p>\n'
                           f'<p class="expanded admonition-title">{html.escape(node["prompt_hide"])}</p>\n'
                           "</summary>\n")


def depart_hidden_code(translator, node):
    translator.body.append("</details>\n")


def visit_citation(translator, node):
    # docutils' own, with "listitem" for "doc-biblioentry", which ARIA 1.3 deprecates.
    if not isinstance(node.previous_sibling(), type(node)):
        translator.body.append('<div role="list" class="citation-list">\n')
    translator.body.append(translator.starttag(node, "div", classes=[node.tagname], role="listitem"))


def depart_citation(translator, node):
    translator.body.append("</div>\n")
    if not isinstance(node.next_node(descend=False, siblings=True), type(node)):
        translator.body.append("</div>\n")


# --- figures, and the finished pages after the build --------------------------------------

def optimise_png(path):
    """Store a notebook's full-colour PNG figure in a palette, as the package's own are."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode == "P":
            return
    # Imported only now: it imports the whole package.
    from shrinkage.output import replacing, save_palette_png

    # All or none: a build killed here must not leave a half-written figure, which
    # myst-nb, finding the file there, would never write again.
    with replacing(path, options=["figure"]) as (temporary,):
        save_palette_png(path, temporary)


def _palette_figures(app, doctree):
    # myst-nb writes each figure once, named by the digest of the bytes it was given, and
    # leaves an existing file alone; Sphinx copies a figure to _images only when the two
    # files differ. Stored with a palette here, a figure costs nothing on later builds.
    folder = (Path(app.outdir).parent / "jupyter_execute").resolve()
    for node in doctree.findall(nodes.image):
        path = (Path(app.srcdir) / node["uri"].lstrip("/")).resolve()
        if path.suffix == ".png" and path.parent == folder and path.is_file():
            optimise_png(path)


def _build_finished(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for image in (Path(app.outdir) / "_images").glob("*.png"):
        optimise_png(image)
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if 'class="bd-article' not in text:  # not a theme page (a fragment, the 404 page)
            continue
        drawn = inline_icons(text)
        if "svg-inline--fa" not in drawn:
            raise RuntimeError(f"{page}: no theme icon found to draw inline; the theme's markup "
                               "has changed (book/_ext/inline_icons.py)")
        if drawn != text:
            page.write_text(drawn, encoding="utf-8")


def site_sources_version():
    """A number that changes with the book's extensions, templates and static files."""
    book = Path(__file__).parents[2]
    digest = hashlib.sha256()
    for source in sorted([*(book / "_ext").rglob("*.py"), *(book / "_static").rglob("*.*"),
                          *(book / "_templates").rglob("*.html")]):
        digest.update(source.name.encode() + source.read_bytes())
    return int(digest.hexdigest()[:8], 16)


def connect(app):
    app.add_css_file("site.css")
    app.add_js_file("site.js", loading_method="defer")
    app.add_node(compat.HideCodeCellNode, override=True, html=(visit_hidden_code, depart_hidden_code))
    app.add_node(nodes.citation, override=True, html=(visit_citation, depart_citation))
    app.connect("doctree-read", _palette_figures)
    app.connect("doctree-resolved", _resolved)
    # After the theme's own handlers (which add scripts and the header buttons).
    app.connect("html-page-context", _page_context, priority=900)
    app.connect("build-finished", _build_finished)
