"""Keep executed outputs in step with the helper package.

jupyter-cache keys a notebook on its code cells only, and Sphinx re-reads a page only
when its source changes, so an edit to the ``shrinkage`` package alone would leave
stale numbers and animations on the pages.  This extension fingerprints the package
(and the pinned requirements) and, when the fingerprint differs from the one the
cached outputs were made with, or the rendered media are gone, clears the execution
cache and the media and has every page read again.  A prose-only edit leaves the
fingerprint alone: Sphinx re-reads that page and the cache serves its outputs.
"""

import hashlib
import shutil
from pathlib import Path

_STAMP = "shrinkage-fingerprint"


def fingerprint(root):
    """sha256 over the helper package's sources, the data files and the requirements."""
    digest = hashlib.sha256()
    files = (sorted((root / "shrinkage").rglob("*.py")) + sorted((root / "book" / "data").glob("*"))
             + [root / "requirements.txt"])
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _check(app, config):
    root = Path(app.srcdir)
    cache = Path(config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache")
    if not cache.is_absolute():
        cache = root / cache
    media = root / "book" / "_media"
    stamp = cache / _STAMP
    current = fingerprint(root)
    app.env_outdated_all = not (stamp.is_file() and stamp.read_text() == current
                                and media.is_dir())
    if app.env_outdated_all:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(media, ignore_errors=True)
        cache.mkdir(parents=True)
        media.mkdir(parents=True)
        stamp.write_text(current)


def _outdated(app, env, added, changed, removed):
    return sorted(env.found_docs - added - changed) if app.env_outdated_all else []


def setup(app):
    app.connect("config-inited", _check, priority=900)
    app.connect("env-get-outdated", _outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
