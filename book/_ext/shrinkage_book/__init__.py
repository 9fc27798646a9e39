"""The book's Sphinx extension: one package, one ``setup()``.

``_config.yml`` loads it as the one local extension.  Its parts, each a module that
connects its handlers in ``connect(app)``:

- :mod:`.fresh_outputs`: keeps executed outputs in step with the helper package, and
  recovers from interrupted builds and damaged caches;
- :mod:`.parallel_execution`: executes the chapters that need it side by side;
- :mod:`.animation_video`: the ``{animation}`` directive (a video with its poster);
- :mod:`.mathml`: equations as MathML, no script;
- :mod:`.notebook_downloads`: each chapter as a plain ``.ipynb`` download;
- :mod:`.offline_site`: nothing loaded from the network;
- :mod:`.site_pages`: light, accessible, phone-ready pages (with :mod:`.inline_icons`);
- :mod:`.site_metadata`: link previews, sitemap, 404 page and icons.

Every use of another package's non-public API is in :mod:`.compat`.
"""

from . import (
    animation_video,
    fresh_outputs,
    mathml,
    notebook_downloads,
    offline_site,
    parallel_execution,
    site_metadata,
    site_pages,
)

# In this order: fresh_outputs decides which pages are read again before
# parallel_execution runs their chapters; the handlers' priorities order the rest.
PARTS = (fresh_outputs, parallel_execution, animation_video, mathml, notebook_downloads,
         offline_site, site_pages, site_metadata)


def setup(app):
    for part in PARTS:
        part.connect(app)
    # Editing the extension, a template or a static file rewrites every page and copies
    # the static files (from cached outputs, without executing); otherwise a build with
    # no changed chapter would skip both.
    return {"env_version": site_pages.site_sources_version(), "parallel_read_safe": True,
            "parallel_write_safe": True}
