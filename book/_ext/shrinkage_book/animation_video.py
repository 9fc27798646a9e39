"""The ``{animation}`` directive: a looping, muted video with its static figure as poster.

    ```{animation} _media/baseline
    :alt: Text that describes the end state, for readers who cannot see the video.

    The caption.
    ```

``_media/baseline.mp4`` and ``_media/baseline.png`` (written by a code cell of the same
chapter) are copied into the site like images.  The poster is also the video's fallback
content, so a browser that cannot play the video shows the static figure and its text.
The video has no control bar, which would cover the plot's axis on a phone; a
play/pause button sits below it (``_static/animation.js``), and readers who prefer
reduced motion get a paused video showing the poster. Printed, the page shows the
poster, the end state, instead of whatever frame the video is at. The animation is
numbered with the figures ("Fig. N"), so ``{numref}`` works with its ``:name:``.
"""

import html
import posixpath

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective


class animation_node(nodes.General, nodes.Element):
    pass


class Animation(SphinxDirective):
    required_arguments = 1
    has_content = True
    option_spec = {"alt": directives.unchanged_required, "name": directives.unchanged}

    def run(self):
        stem = self.arguments[0]
        node = animation_node(alt=self.options.get("alt", ""))
        for kind, suffix in (("video", ".mp4"), ("poster", ".png")):
            relative, _ = self.env.relfn2path(stem + suffix, self.env.docname)
            self.env.images.add_file(self.env.docname, relative)
            node[kind] = relative
        # The caption's inline text becomes the node's children, drawn inside <figcaption>.
        caption = nodes.Element()
        self.state.nested_parse(self.content, self.content_offset, caption)
        for paragraph in caption.children:
            node += paragraph.children
        self.add_name(node)
        if not node["ids"]:
            # Figures are numbered only when they have an id.
            node["ids"].append(nodes.make_id("animation-" + posixpath.basename(stem)))
            self.state.document.note_implicit_target(node, node)
        return [node]


def visit_animation_html(translator, node):
    builder = translator.builder

    def url(relative):
        # Registered like an image so that the builder copies it into _images/.
        if relative not in builder.images:
            builder.images[relative] = builder.env.images[relative][1]
        return posixpath.join(builder.imgpath, builder.images[relative])

    alt = html.escape(node["alt"], quote=True)
    ids = " ".join(node["ids"])
    translator.body.append(
        f'<figure class="animation" id="{ids}">'
        f'<video class="animation-video" autoplay loop muted playsinline '
        f'preload="metadata" width="600" height="450" poster="{url(node["poster"])}" '
        f'aria-label="{alt}">'
        f'<source src="{url(node["video"])}" type="video/mp4">'
        f'<img src="{url(node["poster"])}" alt="{alt}" width="600" height="450">'
        "</video>"
        f'<img class="animation-print" src="{url(node["poster"])}" alt="{alt}" width="600" '
        'height="450">'
        '<button type="button" class="animation-toggle" hidden>Pause the animation</button>'
        "<figcaption><p>")
    translator.add_fignumber(node)
    translator.body.append('<span class="caption-text">')


def depart_animation_html(translator, node):
    translator.body.append("</span></p></figcaption></figure>")


def connect(app):
    app.add_enumerable_node(animation_node, "figure", lambda node: node.astext(),
                            html=(visit_animation_html, depart_animation_html))
    app.add_directive("animation", Animation)
    app.add_js_file("animation.js")
    app.add_css_file("animation.css")
