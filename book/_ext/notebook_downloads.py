"""Offer each executed chapter as an ``.ipynb`` download.

myst-nb writes the executed notebook of every MyST-markdown chapter to
``_build/jupyter_execute``; this copies it next to the page sources and tells the
theme's download menu about it (sphinx-book-theme does so only when launch buttons
are configured, and this book has none: it builds and runs offline).  Cell ids, which
jupytext draws at random, are replaced by their positions, and Python's default
``<object at 0x...>`` text beside a rich output (a memory address) is dropped, so that
two builds of the same sources offer byte-identical downloads.
"""

import json
import re
from pathlib import Path

_DEFAULT_REPR = re.compile(r"^<[\w.]+ (object )?at 0x[0-9a-f]+>$")


def reproducible_notebook(text):
    """Return a notebook's JSON text with cell ids ``cell-0``, ``cell-1``, ... and no addresses."""
    notebook = json.loads(text)
    for index, cell in enumerate(notebook["cells"]):
        cell["id"] = f"cell-{index}"
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            plain = "".join(data.get("text/plain", []))
            if len(data) > 1 and _DEFAULT_REPR.match(plain):
                del data["text/plain"]
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def _add_notebook(app, pagename, templatename, context, doctree):
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(reproducible_notebook(executed.read_text()))
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # Before the theme builds its header buttons (priority 501).
    app.connect("html-page-context", _add_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
