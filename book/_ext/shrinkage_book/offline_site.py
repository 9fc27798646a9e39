"""Keep the site free of services it cannot use offline.

Jupyter Book 1 always loads sphinx-thebe, which adds a script pointing at a CDN (and,
on incremental builds, declares it twice, a console error). This book has no live
code cells, so thebe's page hooks are removed (its static files stay, since its
stylesheet is registered unconditionally).
"""


def _drop_thebe(app, config):
    for event in ("env-before-read-docs", "doctree-resolved"):
        listeners = app.events.listeners[event]
        app.events.listeners[event] = [
            listener for listener in listeners
            if not getattr(listener.handler, "__module__", "").startswith("sphinx_thebe")]


def connect(app):
    app.connect("config-inited", _drop_thebe)
