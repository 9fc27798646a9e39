"""Keep executed outputs in step with the helper package, even after an interrupted build.

jupyter-cache keys a notebook on its code cells only, and Sphinx re-reads a page only
when its source changes, so an edit to the ``shrinkage`` package alone would leave
stale numbers and animations on the pages.  This extension fingerprints the package
(its sources, the data files and the pinned and locked requirements):

* The fingerprint is recorded only when a build has finished without error, every
  media file the chapters write exists, and the package is still the one the build
  started with (an edit during the build leaves it unrecorded).
* When the record is missing or differs, every page is read again, and the cached
  executions made before the current package was first seen are dropped: those
  chapters run again.  A chapter that an interrupted build (killed, out of memory, a
  closed terminal) had already executed with the current package keeps its cached
  execution and its media, so the next build runs only the chapters left.
* When the record matches but a chapter's media file is gone, that chapter's cached
  execution is dropped and the chapter runs again.
* A damaged cache never stops the build: a cached notebook that cannot be read is
  dropped and its chapter runs again, and a database that cannot be read is made anew
  (every chapter runs again).  One line says which.
* A build folder that cannot be written ends the build with one line naming it.
* A page of the built site that is damaged (emptied, cut short) is written again.

A prose-only edit leaves the fingerprint alone: Sphinx re-reads that page and the cache
serves its outputs.
"""

import datetime
import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

from sphinx.util import logging

from . import compat

logger = logging.getLogger(__name__)

_STAMP = "shrinkage-fingerprint"
# The current fingerprint and when a build first saw it: cached executions made since
# then were made with the current package.
_SEEN = "shrinkage-fingerprint-seen"
# A chapter names its media as a file, a folder, or a stem ("_media/baseline" for
# baseline.mp4 and baseline.png).
_MEDIA_REFERENCE = re.compile(r"_media/([\w/.-]*[\w])")


def fingerprint(root):
    """sha256 over the helper package (code, templates, data) and the requirements."""
    digest = hashlib.sha256()
    package = [path for path in (root / "shrinkage").rglob("*.*")
               if path.suffix in (".py", ".html", ".csv", ".json") and "__pycache__" not in path.parts]
    files = sorted(package) + [root / "requirements.txt", root / "requirements.lock"]
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def write_whole(path, text):
    """Write ``text`` to ``path`` whole or not at all (a killed build leaves the old file)."""
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text)
    temporary.replace(path)


def _present(media, name):
    path = media / name
    return path.exists() or any(path.parent.glob(path.name + ".*"))


def chapter_media(book):
    """Map each chapter (a path under ``book``) to the ``_media`` files its code writes."""
    return {chapter: sorted(set(_MEDIA_REFERENCE.findall(chapter.read_text())))
            for chapter in sorted(book.glob("*.md"))}


def cache_folder(app, config):
    """jupyter-cache's folder for this build, as myst-nb finds it."""
    cache = Path(config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache")
    return cache if cache.is_absolute() else Path(app.srcdir) / cache


def _paths(app, config):
    root, cache = Path(app.srcdir), cache_folder(app, config)
    return root, cache, root / "book" / "_media", cache / _STAMP


def _utc_timestamp(moment):
    # jupyter-cache stores UTC times; SQLite gives them back without a time zone.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _chapter_name(root, uri):
    try:
        return Path(uri).relative_to(root).as_posix()
    except ValueError:
        return uri


def _drop_records(store, records, root, why):
    """Remove cache records, and the notebooks they name, whatever state those are in."""
    for record in records:
        try:
            store.remove_cache(record.pk)
        except Exception:  # noqa: BLE001 - the notebook's folder is already gone or damaged
            shutil.rmtree(compat.cached_notebook_path(store, record).parent, ignore_errors=True)
            compat.remove_cache_record(store, record)
        if why:
            logger.info(f"shrinkage: the cached execution of {_chapter_name(root, record.uri)} "
                        f"{why}; that chapter runs again")


def _drop_cached_executions(cache, chapters):
    from jupyter_cache import get_cache

    if not chapters:
        return
    wanted = {str(chapter) for chapter in chapters}
    store = get_cache(cache)
    _drop_records(store, [record for record in store.list_cache_records()
                          if record.uri in wanted], None, why=None)


def _readable(store, record):
    import nbformat

    try:
        path = compat.cached_notebook_path(store, record)
        nbformat.reads(path.read_text(encoding="utf8"), nbformat.NO_CONVERT)
    except Exception:  # noqa: BLE001 - missing, truncated, not JSON, not a notebook
        return False
    return True


def _open_cache(cache, root):
    """The cache with every unreadable notebook dropped; a damaged database made anew.

    Returns the cache and the chapters whose cached execution was dropped, or None
    for the chapters when the database was made anew (every chapter runs again).
    """
    from jupyter_cache import get_cache

    try:
        store = get_cache(cache)
        damaged = [record for record in store.list_cache_records()
                   if not _readable(store, record)]
        _drop_records(store, damaged, root, "could not be read")
        return store, {record.uri for record in damaged}
    except Exception as error:  # noqa: BLE001 - sqlite's "malformed", a missing table, ...
        reason = str(error).strip().splitlines()[0][:120]
        logger.info(f"shrinkage: the execution cache {cache} could not be read ({reason}); "
                    "made it anew, every chapter runs again")
        _clear_cache(cache)
        return get_cache(cache), None


def _clear_cache(cache):
    """Empty the cache folder, keeping nothing of the old database."""
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)


def _first_seen(cache, current):
    """When a build first saw the ``current`` fingerprint (now, if this is the first)."""
    seen = cache / _SEEN
    try:
        fingerprint, moment = seen.read_text().split()
        if fingerprint == current:
            return float(moment)
    except (OSError, ValueError):
        pass
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    write_whole(seen, f"{current} {now!r}\n")
    return now


def _require_writable(app, cache):
    """End the build with one line when the build folder cannot be written."""
    build = Path(app.outdir).parent
    for folder in (build, Path(app.outdir), Path(app.doctreedir), cache):
        existing = folder
        while not existing.exists():
            existing = existing.parent
        if not os.access(existing, os.W_OK | os.X_OK):
            reason = "read-only file system" if _read_only_mount(existing) else "permission denied"
            print(f"error: cannot write the build folder {existing} ({reason}); "
                  "make it writable or build elsewhere", file=sys.stderr)
            raise SystemExit(2)


def _read_only_mount(path):
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _make_media_folders(media):
    # book/_media/static is an html_static_path entry, which Sphinx checks before
    # config-inited handlers at our priority run, so it must always exist.
    (media / "static").mkdir(parents=True, exist_ok=True)


def _check(app, config):
    root, cache, media, stamp = _paths(app, config)
    _require_writable(app, cache)
    cache.mkdir(parents=True, exist_ok=True)
    _make_media_folders(media)
    app.env_outdated_docs = set()
    current = app.shrinkage_fingerprint = fingerprint(root)
    store, damaged = _open_cache(cache, root)
    app.env_outdated_all = damaged is None or not (stamp.is_file()
                                                    and stamp.read_text() == current)
    if app.env_outdated_all:
        # Until a build with this package completes, no build may take the site as current.
        stamp.unlink(missing_ok=True)
        since = _first_seen(cache, current)
        older = [record for record in store.list_cache_records()
                 if _utc_timestamp(record.created) < since]
        _drop_records(store, older, root, why=None)
    missing = [chapter for chapter, files in chapter_media(root / "book").items()
               if any(not _present(media, name) for name in files)]
    _drop_cached_executions(cache, missing)
    book = root / "book"
    app.env_outdated_docs = {f"book/{Path(chapter).stem}" for chapter in [*missing, *(damaged or ())]
                             if Path(chapter).parent == book}


def damaged_pages(outdir, docnames):
    """The pages among ``docnames`` whose HTML in ``outdir`` is missing its end (emptied,
    cut short): Sphinx rewrites a page only when its source changes, so it would keep them."""
    damaged = set()
    for docname in docnames:
        page = Path(outdir) / f"{docname}.html"
        try:
            with open(page, "rb") as handle:
                handle.seek(max(page.stat().st_size - 64, 0))
                whole = b"</html>" in handle.read()
        except OSError:
            continue  # a missing page Sphinx writes again by itself
        if not whole:
            damaged.add(docname)
    return damaged


def _outdated(app, env, added, changed, removed):
    if app.env_outdated_all:
        return sorted(env.found_docs - added - changed)
    damaged = damaged_pages(app.outdir, env.found_docs) if app.builder.format == "html" else set()
    if damaged:
        logger.info(f"shrinkage: {len(damaged)} page(s) in {app.outdir} are damaged (empty or "
                    "cut short); written again")
    return sorted((app.env_outdated_docs | damaged) & env.found_docs - added - changed)


def _record(app, exception):
    """Record the fingerprint once the chapters have run and their media exist."""
    if exception is not None:
        return
    root, cache, media, stamp = _paths(app, app.config)
    # Chapters this build has (a table of contents can leave some out).
    written = all(_present(media, name) for chapter, files in chapter_media(root / "book").items()
                  if f"book/{chapter.stem}" in app.env.found_docs for name in files)
    # The package the chapters ran with: an edit made during the build is not recorded
    # as built, so the next build runs the chapters again.
    built_with = getattr(app, "shrinkage_fingerprint", None)
    if written and cache.is_dir() and built_with == fingerprint(root):
        write_whole(stamp, built_with)


def connect(app):
    _make_media_folders(Path(app.srcdir) / "book" / "_media")
    app.connect("config-inited", _check, priority=900)
    app.connect("env-get-outdated", _outdated)
    app.connect("build-finished", _record)
