"""book/_ext/shrinkage_book/site_pages.py's pieces, on small inputs; the built pages are checked in
test_book.py and in Chromium in test_browser.py."""

import pytest

from shrinkage_book import site_pages  # book/_ext, on the path from conftest
from shrinkage_book.compat import JavaScript as _JavaScript


def test_file_scripts_are_deferred_unless_already_async_or_a_module():
    assert site_pages.deferred(_JavaScript("a.js")).attributes == {"defer": "defer"}
    for attributes in ({"async": "async"}, {"type": "module"}, {"defer": ""}):
        assert site_pages.deferred(_JavaScript("a.js", **attributes)).attributes == attributes


def test_inline_code_runs_after_the_deferred_scripts_and_declarations_stay():
    declaration = _JavaScript(None, body="let toggleHintShow = 'Click to show';")
    assert site_pages.deferred(declaration) is declaration
    code = site_pages.deferred(_JavaScript(None, body="DOCUMENTATION_OPTIONS.pagename = 'x';"))
    # Deferred scripts run before DOMContentLoaded; this listener is added while parsing,
    # so it runs first among that event's listeners, after every deferred script.
    assert code.attributes["body"] == ('document.addEventListener("DOMContentLoaded", () => '
                                       "{ DOCUMENTATION_OPTIONS.pagename = 'x'; });")


@pytest.mark.parametrize("text, expected", [
    ("a < b\nlongest line", "fit-12"),           # the longest line, trailing spaces aside
    ("x" * 64, "fit-64"), ("x" * 65, "wrap-lines"), ("", "fit-1")])
def test_text_outputs_get_their_longest_line_or_wrap(text, expected):
    assert site_pages.output_width_class(text) == expected


def test_empty_header_cells_become_plain_cells():
    markup = ('<tr><th class="blank level0" >&nbsp;</th><th class="col_heading">own</th>'
              '<th scope="col"></th></tr>')
    assert site_pages.without_empty_headers(markup) == (
        '<tr><td class="blank level0"></td><th class="col_heading">own</th><td></td></tr>')


def test_description_is_the_first_plain_paragraph_cut_at_a_word():
    from docutils.core import publish_doctree

    doctree = publish_doctree("Title\n=====\n\n*Adapted from an article.*\n\n"
                              + "Data often come in groups. " * 10,
                              settings_overrides={"doctitle_xform": False})
    text = site_pages.description(doctree)
    assert text.startswith("Data often come in groups.") and text.endswith("…")
    assert len(text) <= site_pages.DESCRIPTION_LENGTH
