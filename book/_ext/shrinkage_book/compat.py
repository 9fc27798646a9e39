"""Every use of another package's non-public API, in one place.

The book's extension uses a few parts of myst-nb, jupyter-cache, Sphinx and
pydata-sphinx-theme that those packages do not document as public: functions and
classes from their internal modules, a file inside the theme's package, and copies of
two of the theme's templates (``book/_templates``).  Any release may move or change
them.  Each use below says what it is for; :data:`CHECKED` says which version of each
package the uses were checked against, and ``tests/test_compat.py`` fails, naming
the package and its uses, as soon as an installed version differs (a Renovate update,
say).  Then check each use against the new version, update it if needed, and update
:data:`CHECKED`.

Sphinx's own extension API (events, nodes, directives, templates, ``app.add_*``) and
jupyter-cache's ``get_cache`` are public and are used where they are needed.
"""

from importlib.metadata import version
from pathlib import Path

# jupyter-cache: executing one notebook as its cache does, and a cached bundle to store.
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.cache.db import NbCacheRecord
from jupyter_cache.executors.utils import single_nb_execution

# myst-nb: how it reads a MyST notebook, what it raises when a notebook fails, the node
# of a hidden code cell, and how it merges streams and formats glued text.
from myst_nb.core.execute.base import ExecutionError
from myst_nb.core.read import create_nb_reader
from myst_nb.core.utils import coalesce_streams
from myst_nb.core.variables import format_plain_text
from myst_nb.sphinx_ import HideCodeCellNode

# Sphinx: the script asset that app.add_js_file makes, remade with other attributes.
from sphinx.builders.html._assets import _JavaScript as JavaScript

# The versions the uses in this module were checked against, and what the uses are.
CHECKED = {
    "myst-nb": ("1.4.0", "ExecutionError, create_nb_reader, coalesce_streams, "
                         "format_plain_text, HideCodeCellNode"),
    "jupyter-cache": ("1.0.1", "CacheBundleIn, NbCacheRecord.remove_records, "
                               "single_nb_execution, JupyterCacheBase._get_notebook_path_cache"),
    "sphinx": ("7.4.7", "sphinx.builders.html._assets._JavaScript"),
    "pydata-sphinx-theme": ("0.17.1", "its Font Awesome script's path; the copies of its "
                                      "sections/header.html and "
                                      "search-button-field.html in book/_templates"),
}

# The theme's templates that book/_templates replaces by a changed copy (not by
# extending them): each copy's first line names the theme version it was copied from.
TEMPLATE_COPIES = ("sections/header.html", "search-button-field.html")

__all__ = ["CHECKED", "TEMPLATE_COPIES", "CacheBundleIn", "ExecutionError", "HideCodeCellNode",
           "JavaScript", "cached_notebook_path", "coalesce_streams", "create_nb_reader",
           "format_plain_text", "mismatches", "remove_cache_record", "single_nb_execution",
           "theme_icon_script"]


def mismatches():
    """One line for each package whose installed version is not the one checked."""
    lines = []
    for package, (checked, uses) in CHECKED.items():
        installed = version(package)
        if installed != checked:
            lines.append(f"{package} {installed} is installed, but book/_ext/shrinkage_book/"
                         f"compat.py was checked against {checked}: check its uses ({uses}) "
                         "against the new version, then update CHECKED")
    return lines


def cached_notebook_path(store, record):
    """The file in which jupyter-cache keeps a record's executed notebook."""
    return store._get_notebook_path_cache(record.hashkey)


def remove_cache_record(store, record):
    """Remove a record from jupyter-cache's database when its notebook is already gone
    (the public ``remove_cache`` fails then)."""
    NbCacheRecord.remove_records([record.pk], store.db)


def theme_icon_script():
    """pydata-sphinx-theme's full Font Awesome script, inside its package."""
    import pydata_sphinx_theme

    return (Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme"
            / "static" / "scripts" / "fontawesome.js")
