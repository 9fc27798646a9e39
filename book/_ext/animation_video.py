"""The ``{animation}`` directive: a looping, muted video with its static figure as poster.

    ```{animation} _media/baseline
    :alt: Text that describes the end state, for readers who cannot see the video.

    The caption.
    ```

``_media/baseline.mp4`` and ``_media/baseline.png`` (written by a code cell of the same
chapter) are copied into the site like images.  The poster is also the video's fallback
content, so a browser that cannot play the video shows the static figure and its text.
Readers who prefer reduced motion get a paused video showing the poster
(``_static/reduced-motion.js``).
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
        caption = nodes.paragraph()
        self.state.nested_parse(self.content, self.content_offset, caption)
        node += caption
        self.add_name(node)
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
        f'<video class="animation-video" autoplay loop muted playsinline controls '
        f'preload="metadata" width="600" height="450" poster="{url(node["poster"])}" '
        f'aria-label="{alt}">'
        f'<source src="{url(node["video"])}" type="video/mp4">'
        f'<img src="{url(node["poster"])}" alt="{alt}" width="600" height="450">'
        "</video><figcaption>")


def depart_animation_html(translator, node):
    translator.body.append("</figcaption></figure>")


def setup(app):
    app.add_node(animation_node, html=(visit_animation_html, depart_animation_html))
    app.add_directive("animation", Animation)
    app.add_js_file("reduced-motion.js")
    app.add_css_file("animation.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
