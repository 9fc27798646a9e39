"""Check that every chapter is a jupytext MyST notebook that Jupyter can open.

    .venv/bin/python scripts/check_chapters.py [book/NAME.md ...]   (default: every chapter)

A chapter with code must carry jupytext's MyST header and a Python kernel, and convert to
a valid nbformat 4 notebook; a page without code (no ``{code-cell}``) is plain MyST and
needs no header.  A reader who downloads a chapter must find its analysis in cells they
can see: at most half of a chapter's code lines may be hidden (tags ``hide-input`` or
``remove-...``), and under a third of all the chapters' code lines (checked when every
chapter is checked).  Prints one line per problem and exits with status 1 when there is
any.
"""

import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent


def problems(path):
    """What is wrong with the chapter at ``path``, as lines (empty: nothing)."""
    if "```{code-cell}" not in Path(path).read_text():
        return []  # a page of prose
    try:
        notebook = jupytext.read(path, fmt="md:myst")
    except Exception as error:  # noqa: BLE001 - any parse failure is the finding
        return [f"{path}: not a jupytext MyST notebook ({error})"]
    found = []
    header = notebook.metadata.get("jupytext", {}).get("text_representation", {})
    if header.get("format_name") != "myst":
        found.append(f"{path}: the jupytext header does not say format_name: myst")
    if notebook.metadata.get("kernelspec", {}).get("language") != "python":
        found.append(f"{path}: no Python kernelspec in the header")
    if not any(cell.cell_type == "code" for cell in notebook.cells):
        found.append(f"{path}: its code cells were not read as code (check their fences)")
    try:
        nbformat.validate(nbformat.reads(jupytext.writes(notebook, "ipynb"), as_version=4))
    except nbformat.ValidationError as error:
        found.append(f"{path}: not a valid notebook ({error.message})")
    return found


# The shares of code lines that may be hidden: in any one chapter, and in all of them.
MOST_HIDDEN_IN_A_CHAPTER = 1 / 2
MOST_HIDDEN_IN_ALL = 1 / 3
_HIDING = ("hide-input", "remove-cell", "remove-input")


def code_lines(path):
    """``(hidden, all)``: the chapter's non-blank code lines, and those of them hidden."""
    if "```{code-cell}" not in Path(path).read_text():
        return 0, 0
    hidden = total = 0
    for cell in jupytext.read(path, fmt="md:myst").cells:
        if cell.cell_type != "code":
            continue
        lines = sum(1 for line in cell.source.splitlines() if line.strip())
        total += lines
        if set(cell.metadata.get("tags", [])) & set(_HIDING):
            hidden += lines
    return hidden, total


def hidden_code(chapters, overall=True):
    """Lines saying where too much of the code is hidden (empty: nothing)."""
    found, counts = [], {chapter.name: code_lines(chapter) for chapter in chapters}
    for chapter, (hidden, total) in counts.items():
        if total and hidden / total > MOST_HIDDEN_IN_A_CHAPTER:
            found.append(f"book/{chapter}: {hidden} of its {total} code lines are hidden; at most "
                         f"{MOST_HIDDEN_IN_A_CHAPTER:.0%} may be (show the analysis, hide only "
                         "plumbing such as glue calls)")
    hidden, total = (sum(column) for column in zip(*counts.values()))
    if overall and total and hidden / total >= MOST_HIDDEN_IN_ALL:
        found.append(f"{hidden} of the chapters' {total} code lines are hidden; under "
                     f"{MOST_HIDDEN_IN_ALL:.0%} may be")
    return found


def main(paths):
    chapters = [Path(p) for p in paths] or sorted((ROOT / "book").glob("*.md"))
    found = [line for chapter in chapters for line in problems(chapter)]
    if not found:
        found = hidden_code(chapters, overall=not paths)
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
