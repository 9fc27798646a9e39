"""Render math to MathML at build time.

Pages then need no math script and no network: every current browser lays out MathML
itself.  The LaTeX is converted by latex2mathml.
"""

from docutils import nodes
from latex2mathml.converter import convert


def _inline(translator, node):
    translator.body.append(convert(node.astext()))
    raise nodes.SkipNode


def _block(translator, node):
    label = node.get("number")
    number = f'<span class="eqno">({label})</span>' if label else ""
    ids = " ".join(node.get("ids", []))
    translator.body.append(
        f'<div class="math-display" id="{ids}">{convert(node.astext(), display="block")}'
        f"{number}</div>")
    raise nodes.SkipNode


def connect(app):
    app.add_html_math_renderer("mathml", (_inline, None), (_block, None))
    app.add_css_file("mathml.css")
