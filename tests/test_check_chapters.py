"""scripts/check_chapters.py: chapters are notebooks, and show most of their code."""
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import check_chapters  # noqa: E402 - scripts/ is not a package

HEADER = ("---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
          "    format_version: 0.13\nkernelspec:\n  display_name: Python 3\n  language: python\n"
          "  name: python3\n---\n\n# A chapter\n\n")


def chapter(tmp_path, name, shown, hidden, tag="hide-input"):
    cells = "```{code-cell} ipython3\n" + "x = 1\n" * shown + "```\n\n"
    cells += f"```{{code-cell}} ipython3\n:tags: [{tag}]\n" + "\ny = 2\n" * hidden + "```\n"
    path = tmp_path / name
    path.write_text(HEADER + cells)
    return path


def test_code_lines_counts_hidden_and_removed_cells_and_skips_blank_lines(tmp_path):
    assert check_chapters.code_lines(chapter(tmp_path, "a.md", 3, 2)) == (2, 5)
    assert check_chapters.code_lines(chapter(tmp_path, "b.md", 3, 4, "remove-cell")) == (4, 7)
    assert check_chapters.code_lines(chapter(tmp_path, "c.md", 3, 4, "remove-output")) == (0, 7)


def test_a_chapter_may_hide_half_its_code_and_all_chapters_under_a_third(tmp_path):
    half = chapter(tmp_path, "half.md", 4, 4)
    more = chapter(tmp_path, "more.md", 4, 5)
    assert check_chapters.hidden_code([half], overall=False) == []
    (line,) = check_chapters.hidden_code([more], overall=False)
    assert line.startswith("book/more.md: 5 of its 9 code lines are hidden")
    shown = chapter(tmp_path, "shown.md", 10, 0)
    assert check_chapters.hidden_code([half, shown]) == []        # 4 of 18
    lines = check_chapters.hidden_code([half, chapter(tmp_path, "third.md", 1, 1)])
    assert lines == ["5 of the chapters' 10 code lines are hidden; under 33% may be"]


def test_the_books_chapters_pass():
    chapters = sorted((ROOT / "book").glob("*.md"))
    assert [line for path in chapters for line in check_chapters.problems(path)] == []
    assert check_chapters.hidden_code(chapters) == []
