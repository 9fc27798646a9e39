"""Offer each executed chapter as an ``.ipynb`` download.

myst-nb writes the executed notebook of every MyST-markdown chapter to
``_build/jupyter_execute``; this copies it next to the page sources and tells the
theme's download menu about it (sphinx-book-theme does so only when launch buttons
are configured, and this book has none: it builds and runs offline).
"""

import shutil
from pathlib import Path


def _add_notebook(app, pagename, templatename, context, doctree):
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # Before the theme builds its header buttons (priority 501).
    app.connect("html-page-context", _add_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
