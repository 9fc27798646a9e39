"""What the book's pages need beyond the analysis: the values their prose quotes.

A chapter's prose quotes numbers and words computed from the data through myst-nb's
``glue``; :func:`glue_values` glues several at once, so that a chapter's plumbing stays
one short call beside the visible analysis.  (myst-nb is a dependency of the book, not
of the package: it is imported only when this is called.)
"""

import numpy as np


def glue_values(**values):
    """Glue each value under its keyword's name for the prose, without showing it.

    Numbers are glued as Python numbers (numpy's own, such as ``np.float64(0.5)``,
    would be quoted with their type), for ``{glue:text}`name:.2f```; text is glued as
    Markdown, for ``{glue:md}`name```, and so may carry emphasis or code.
    """
    from IPython.display import Markdown
    from myst_nb import glue

    for name, value in values.items():
        if isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, str):
            value = Markdown(value)
        glue(name, value, display=False)
