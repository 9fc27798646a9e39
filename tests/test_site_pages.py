"""The page rewriting of book/_ext/site_pages.py, on small pieces of the theme's HTML."""
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import site_pages  # noqa: E402

HEAD = """<html><head>
  <script data-cfasync="false">
    document.documentElement.dataset.mode = localStorage.getItem("mode") || "auto";
  </script>
  <script src="../_static/documentation_options.js?v=1"></script>
  <script>let toggleHintShow = 'Click to show';</script>
  <script>DOCUMENTATION_OPTIONS.pagename = 'book/x';</script>
  <script src="../_static/searchtools.js"></script>
  <script src="../searchindex.js"></script>
  <script defer src="../_static/scripts/fontawesome.js?digest=1"></script>
  <link rel="stylesheet" type="text/css" href="../_static/sphinx-thebe.css?v=1" />
</head>"""
BODY = """<body><header>
  <button class="pst-navbar-icon sidebar-toggle primary-toggle" aria-label="Site navigation">
    <span class="fa-solid fa-bars"></span>
  </button>
  <button class="pst-navbar-icon sidebar-toggle secondary-toggle" aria-label="On this page">
    <span class="fa-solid fa-outdent"></span>
  </button></header>
  <button class="sidebar-toggle primary-toggle btn btn-sm" title="Toggle primary sidebar">
    <span class="fa-solid fa-bars"></span></button>
  <details><summary aria-label="Toggle hidden content"><p>Show code cell source</p></summary>
  </details>
  <div class="output stream highlight-myst-ansi notranslate"><div class="highlight"><pre>a &lt; b
longest line</pre></div></div>
  <div class="output text_plain highlight-myst-ansi notranslate">%s</div>
  <table><tr><th class="blank level0" >&nbsp;</th><th class="col_heading">own</th></tr></table>
</body></html>""" % ('<div class="highlight"><pre>' + "x" * 70 + "</pre></div>")


@pytest.fixture(scope="module")
def polished():
    return site_pages.polish(HEAD + BODY)


def test_the_hidden_header_buttons_go_and_the_visible_ones_stay(polished):
    # The theme's scripts bind the first .primary-toggle: it must be the visible one.
    assert polished.count("primary-toggle") == 1 and "btn btn-sm" in polished
    assert "secondary-toggle" not in polished


def test_no_script_blocks_the_first_paint(polished):
    head = polished[:polished.index("</head>")]
    assert '<script defer src="../_static/documentation_options.js?v=1">' in head
    # A declaration stays inline; code that needs a deferred script is deferred after it.
    assert "<script>let toggleHintShow = 'Click to show';</script>" in head
    assert 'src="data:text/javascript,DOCUMENTATION_OPTIONS.pagename' in head
    assert head.index("documentation_options.js") < head.index("DOCUMENTATION_OPTIONS.pagename")
    for gone in ("searchtools.js", "searchindex.js", "fontawesome.js", "sphinx-thebe.css"):
        assert gone not in head


def test_the_search_page_keeps_its_scripts():
    page = site_pages.polish(HEAD + BODY, search_page=True)
    assert '<script src="../_static/searchtools.js"></script>' in page


def test_the_colour_scheme_follows_the_system_before_the_first_paint(polished):
    script = polished[polished.index("data-cfasync"):polished.index("</script>")]
    assert 'prefers-color-scheme: dark' in script
    assert 'localStorage.getItem("mode") || "auto"' in script  # the configured default
    lighter = site_pages.polish((HEAD + BODY).replace('|| "auto"', '|| "light"'))
    assert 'localStorage.getItem("mode") || "light"' in lighter


def test_icons_are_inline_svg(polished):
    assert "fa-solid fa-bars svg-inline--fa" in polished
    assert '<span class="fa-solid' not in polished
    assert polished.count('<path fill="currentColor" d="M') == 1


def test_text_outputs_carry_their_longest_line_and_long_ones_wrap(polished):
    # "longest line" has 12 characters; "a &lt; b" is 5 once unescaped.
    assert '<pre style="--chars: 12">a &lt; b' in polished
    assert '<pre class="wrap-lines">' + "x" * 70 in polished


def test_names_match_labels_and_empty_headers_become_cells(polished):
    assert "<summary>" in polished and "Toggle hidden content" not in polished
    assert '<td class="blank level0"></td><th class="col_heading">own</th>' in polished


def test_rewriting_twice_changes_nothing(polished):
    assert site_pages.polish(polished) == polished


def test_description_is_the_first_plain_paragraph_cut_at_a_word():
    from docutils.core import publish_doctree

    doctree = publish_doctree("Title\n=====\n\n*Adapted from an article.*\n\n"
                              + "Data often come in groups. " * 10,
                              settings_overrides={"doctitle_xform": False})
    text = site_pages.description(doctree)
    assert text.startswith("Data often come in groups.") and text.endswith("…")
    assert len(text) <= site_pages.DESCRIPTION_LENGTH
