"""Offer each executed chapter as an ``.ipynb`` download that reads as a plain notebook.

myst-nb writes the executed notebook of every MyST-markdown chapter to
``_build/jupyter_execute``; this copies it next to the page sources and tells the
theme's download menu about it (sphinx-book-theme does so only when launch buttons
are configured, and this book has none: it builds and runs offline).  Cell ids, which
jupytext draws at random, are replaced by their positions, a cell's printed text is one
output per stream (as on the page; the kernel splits it by timing), and Python's default
``<object at 0x...>`` text beside a rich output (a memory address) is dropped, so that
two builds of the same sources offer byte-identical downloads.

The markdown cells are written in MyST, which Jupyter does not read: in the download,
glued values become the text the page shows, ``{ref}`` the section's title, ``{cite}``
an author-year citation, ``{figure}`` and ``{animation}`` a markdown image of the file
the notebook writes (with the caption below), the bibliography a list, a ``{container}``
its contents, and labels go.
"""

import json
import re
from pathlib import Path

import nbformat

from . import compat

_DEFAULT_REPR = re.compile(r"^<[\w.]+ (object )?at 0x[0-9a-f]+>$")
_LABEL = re.compile(r"^\([\w-]+\)=[ \t]*\n", re.M)
_ROLE = re.compile(r"\{(?P<role>[\w:-]*)\}`(?P<text>[^`]*)`")
_DIRECTIVE = re.compile(r"^```\{(?P<name>figure|animation|bibliography|container)\}[ \t]*"
                        r"(?P<argument>[^\n]*)\n(?P<options>(?::[\w-]+:[^\n]*\n)*)\n?"
                        r"(?P<body>.*?)^```[ \t]*$", re.M | re.S)


def bibliography(paths):
    """``{key: (authors' last names, year, title)}`` from BibTeX files.

    Read with pybtex, the reader sphinxcontrib-bibtex uses for the pages, and LaTeX
    turned into text (``M{\\"a}chler`` is Mächler, ``{lme4}`` is lme4).
    """
    from pybtex.database import parse_file
    from pybtex.richtext import Text

    def text(latex):
        return str(Text.from_latex(latex))

    entries = {}
    for path in paths:
        for key, entry in parse_file(str(path), "bibtex").entries.items():
            authors = [text(" ".join(person.last_names))
                       for person in entry.persons.get("author", [])]
            entries[key] = (authors, entry.fields.get("year", ""),
                            text(entry.fields.get("title", "")))
    return entries


def _citation(keys, references):
    def one(key):
        authors, year, _ = references[key]
        names = authors[0] + (" et al." if len(authors) > 2 else
                              f" and {authors[1]}" if len(authors) == 2 else "")
        return f"{names} {year}"
    return "(" + "; ".join(one(key.strip()) for key in keys.split(",")) + ")"


def plain_markdown(text, glued, titles, references):
    """A MyST markdown cell's ``text`` as plain (Jupyter) markdown.

    ``glued`` maps glue names to their output data, ``titles`` labels to section
    titles, ``references`` citation keys to ``(authors, year, title)``.
    """
    def role(match):
        name, content = match.group("role"), match.group("text")
        if name.startswith("glue"):
            key, _, spec = content.partition(":") if name == "glue:text" else (content, "", "")
            data = glued[key.strip()]["data"]
            if name in ("glue:md", "glue:", "glue") and "text/markdown" in data:
                return data["text/markdown"]
            return compat.format_plain_text(data["text/plain"], spec if name == "glue:text" else "")
        if name == "ref":
            shown = re.fullmatch(r"(.*?)\s*<([\w-]+)>", content)
            # A label that is not in this build (Sphinx warns of it) reads as its name.
            return shown.group(1) if shown else titles.get(content, content)
        if name == "cite":
            return _citation(content, references)
        return content  # any other role: its text

    def directive(match):
        name, argument = match.group("name"), match.group("argument").strip()
        options = dict(re.findall(r"^:([\w-]+):[ \t]*(.*)$", match.group("options"), re.M))
        if name == "container":  # a styled box on the page: its text in the notebook
            return match.group("body").strip("\n")
        if name == "bibliography":
            return "\n".join(f"- {', '.join(authors)} ({year}). *{title}*."
                             for authors, year, title in references.values())
        image = argument + ".png" if name == "animation" else argument
        caption = " ".join(match.group("body").split())
        return f"![{options.get('alt', '')}]({image})\n\n*{caption}*"

    text = _LABEL.sub("", text)
    text = _DIRECTIVE.sub(directive, text)
    return _ROLE.sub(role, text)


def _glued(output):
    """Whether ``output`` is a value glued with ``display=False`` (myst-nb's ``glue``)."""
    return bool(output.get("metadata", {}).get("scrapbook", {}).get("mime_prefix"))


def reproducible_notebook(text, glued=None, titles=None, references=None):
    """Return a notebook's JSON text with cell ids ``cell-0``, ``cell-1``, ..., no
    addresses or hidden glued values, and markdown cells in plain markdown
    (:func:`plain_markdown`)."""
    notebook = nbformat.reads(text, as_version=4)
    for index, cell in enumerate(notebook["cells"]):
        cell["id"] = f"cell-{index}"
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            cell["source"] = plain_markdown(source, glued or {}, titles or {}, references or {})
        if "outputs" in cell:
            # Glued values stay out of the notebook, as myst-nb leaves them; one output
            # per stream, as the page shows them: how the kernel split a cell's printing
            # into messages depends on timing.
            cell["outputs"] = compat.coalesce_streams([output for output in cell["outputs"]
                                                if not _glued(output)])
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            plain = "".join(data.get("text/plain", []))
            if len(data) > 1 and _DEFAULT_REPR.match(plain):
                del data["text/plain"]
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def _with_cached_outputs(app, text):
    """The executed notebook's text with its outputs, also when the build took them from
    the cache: myst-nb then writes the notebook without them (it merges the cached
    outputs into a copy)."""
    from jupyter_cache import get_cache

    notebook = nbformat.reads(text, as_version=4)
    cache_path = app.env.mystnb_config.execution_cache_path  # as myst-nb resolved it
    if any(cell.get("outputs") for cell in notebook.cells) or not cache_path:
        return text
    try:
        _, merged = get_cache(cache_path).merge_match_into_notebook(notebook)
    except KeyError:  # not in the cache: the chapter has no outputs
        return text
    return nbformat.writes(merged)


def _add_notebook(app, pagename, templatename, context, doctree):
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    glue_file = executed.with_suffix(".glue.json")
    glued = json.loads(glue_file.read_text()) if glue_file.is_file() else {}
    titles = {label: title for label, (_, _, title)
              in app.env.domaindata["std"]["labels"].items()}
    references = bibliography(Path(app.srcdir) / name for name in app.config.bibtex_bibfiles)
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = _with_cached_outputs(app, executed.read_text())
    target.write_text(reproducible_notebook(text, glued, titles, references))
    context["ipynb_source"] = f"{pagename}.ipynb"


def connect(app):
    # Before the theme builds its header buttons (priority 501).
    app.connect("html-page-context", _add_notebook, priority=500)
