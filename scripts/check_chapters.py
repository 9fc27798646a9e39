"""Check that every chapter is a jupytext MyST notebook that Jupyter can open.

    .venv/bin/python scripts/check_chapters.py [book/NAME.md ...]   (default: every chapter)

A chapter with code must carry jupytext's MyST header and a Python kernel, and convert to
a valid nbformat 4 notebook; a page without code (no ``{code-cell}``) is plain MyST and
needs no header.  Prints one line per problem and exits
with status 1 when there is any.
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


def main(paths):
    chapters = [Path(p) for p in paths] or sorted((ROOT / "book").glob("*.md"))
    found = [line for chapter in chapters for line in problems(chapter)]
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
