"""Keep executed outputs in step with the helper package, even after an interrupted build.

jupyter-cache keys a notebook on its code cells only, and Sphinx re-reads a page only
when its source changes, so an edit to the ``shrinkage`` package alone would leave
stale numbers and animations on the pages.  This extension fingerprints the package
(its sources, the data files and the pinned and locked requirements):

* The fingerprint is recorded only when a build has finished without error and every
  media file the chapters write exists.  A build that changes the package first removes
  the old record, so a build killed half-way (out of memory, a closed terminal) leaves no
  record, and the next build starts again from a clean cache.
* When the record is missing or differs, the execution cache and the media are cleared
  and every page is read again.
* When the record matches but a chapter's media file is gone, that chapter's cached
  execution is dropped and the chapter runs again.

A prose-only edit leaves the fingerprint alone: Sphinx re-reads that page and the cache
serves its outputs.
"""

import hashlib
import re
import shutil
from pathlib import Path

_STAMP = "shrinkage-fingerprint"
# A chapter names its media as a file, a folder, or a stem ("_media/baseline" for
# baseline.mp4 and baseline.png).
_MEDIA_REFERENCE = re.compile(r"_media/([\w/.-]*[\w])")


def fingerprint(root):
    """sha256 over the helper package's sources, the data files and the requirements."""
    digest = hashlib.sha256()
    files = (sorted((root / "shrinkage").rglob("*.py")) + sorted((root / "book" / "data").glob("*"))
             + [root / "requirements.txt", root / "requirements.lock"])
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _present(media, name):
    path = media / name
    return path.exists() or any(path.parent.glob(path.name + ".*"))


def chapter_media(book):
    """Map each chapter (a path under ``book``) to the ``_media`` files its code writes."""
    return {chapter: sorted(set(_MEDIA_REFERENCE.findall(chapter.read_text())))
            for chapter in sorted(book.glob("*.md"))}


def _paths(app, config):
    root = Path(app.srcdir)
    cache = Path(config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache")
    if not cache.is_absolute():
        cache = root / cache
    return root, cache, root / "book" / "_media", cache / _STAMP


def _drop_cached_executions(cache, chapters):
    from jupyter_cache import get_cache

    wanted = {str(chapter) for chapter in chapters}
    store = get_cache(cache)
    for record in store.list_cache_records():
        if record.uri in wanted:
            store.remove_cache(record.pk)


def _make_media_folders(media):
    # book/_media/static is an html_static_path entry, which Sphinx checks before
    # config-inited handlers at our priority run, so it must always exist.
    (media / "static").mkdir(parents=True, exist_ok=True)


def _check(app, config):
    root, cache, media, stamp = _paths(app, config)
    app.env_outdated_docs = set()
    current = fingerprint(root)
    app.env_outdated_all = not (stamp.is_file() and stamp.read_text() == current)
    if app.env_outdated_all:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(media, ignore_errors=True)
        cache.mkdir(parents=True)
        _make_media_folders(media)
        return
    missing = [chapter for chapter, files in chapter_media(root / "book").items()
               if any(not _present(media, name) for name in files)]
    if missing:
        _drop_cached_executions(cache, missing)
        app.env_outdated_docs = {chapter.relative_to(root).with_suffix("").as_posix()
                                 for chapter in missing}


def _outdated(app, env, added, changed, removed):
    if app.env_outdated_all:
        return sorted(env.found_docs - added - changed)
    return sorted(app.env_outdated_docs & env.found_docs - added - changed)


def _record(app, exception):
    """Record the fingerprint once the chapters have run and their media exist."""
    if exception is not None:
        return
    root, cache, media, stamp = _paths(app, app.config)
    written = all(_present(media, name)
                  for files in chapter_media(root / "book").values() for name in files)
    if written and cache.is_dir():
        temporary = stamp.with_name(stamp.name + ".partial")
        temporary.write_text(fingerprint(root))
        temporary.replace(stamp)


def setup(app):
    _make_media_folders(Path(app.srcdir) / "book" / "_media")
    app.connect("config-inited", _check, priority=900)
    app.connect("env-get-outdated", _outdated)
    app.connect("build-finished", _record)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
