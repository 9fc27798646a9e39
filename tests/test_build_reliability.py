"""The build executes chapters side by side, stays current when it is interrupted or its
media are deleted, reuses outputs after a prose edit, and builds the same site again.

All but the last test use the small book (conftest.SMALL_BOOK): the same machinery as the
whole book, built in a fifth of the time.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import (
    SMALL_BOOK,
    build_book,
    executed_chapters,
    own_package,
    site_digests,
    small_book,
)

pytestmark = pytest.mark.book

ANIMATED = ["baseline", "few_obs"]  # of the small book
MARK = "Linear mixed model fit by REML (edited)"


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    """The small book, built once, and the build's log."""
    return small_book(tmp_path_factory.mktemp("small") / "repo")


@pytest.fixture(scope="module")
def small(small_build):
    """The small book's folder; the tests below edit and rebuild it in turn."""
    return small_build[0]


def rebuild(copy):
    return build_book(copy, own_package(copy), strict=False)


def cache_records(copy):
    """{chapter: (record, notebook path)} of the copy's execution cache."""
    from jupyter_cache import get_cache

    store = get_cache(copy / "_build" / ".jupyter_cache")
    return {Path(record.uri).stem: (record, store._get_notebook_path_cache(record.hashkey))
            for record in store.list_cache_records()}


def test_chapters_execute_side_by_side(small_build):
    copy, log = small_build
    assert executed_chapters(log) == set(SMALL_BOOK)
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: chapters execute one at a time")
    # Each cached execution ends when it was stored and lasted its recorded seconds; one
    # after another, a chapter would start when the one before was stored (to within the
    # milliseconds of storing it).
    spans = sorted((record.created.timestamp() - record.data["execution_seconds"],
                    record.created.timestamp()) for record, _ in cache_records(copy).values())
    overlaps = [earlier[1] - later[0] for earlier, later in zip(spans, spans[1:])]
    assert max(overlaps) > 1, spans


def test_prose_and_stylesheet_edits_reuse_outputs(small):
    copy = small
    chapter = copy / "book" / "few_obs.md"
    chapter.write_text(chapter.read_text().replace("lean much harder", "lean far harder"))
    log = rebuild(copy)
    assert not executed_chapters(log) and "Executing notebook" not in log
    assert "lean far harder" in (copy / "_build/html/book/few_obs.html").read_text()
    # The build recorded the package it ran with, though the small book leaves chapters
    # (and their media) out: the next build need not read every page again.
    assert (copy / "_build" / ".jupyter_cache" / "shrinkage-fingerprint").is_file()
    # A stylesheet edit reaches the site, though no chapter changed, without executing.
    style = copy / "book" / "_static" / "site.css"
    style.write_text(style.read_text() + "\n/* edited */\n")
    log = rebuild(copy)
    assert not executed_chapters(log) and "Executing notebook" not in log
    assert "/* edited */" in (copy / "_build/html/_static/site.css").read_text()


def kill_build_after(source, chapters, log):
    """Start a build and SIGKILL it, with its kernels, once it has executed ``chapters``.

    What the build printed until then goes to the file ``log``.
    """
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    with open(log, "w") as sink:
        process = subprocess.Popen([str(jupyter_book), "build", str(source)],
                                   start_new_session=True, stdout=sink, stderr=subprocess.STDOUT,
                                   env={**own_package(source), "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 300
    while len(executed_chapters(log.read_text())) < chapters:
        assert process.poll() is None, "the build ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_a_package_edit_reexecutes_and_a_killed_build_is_completed_by_the_next(small, tmp_path):
    copy = small
    # An edit of the package the chapters import: every chapter is out of date.
    report = copy / "shrinkage" / "report.py"
    report.write_text(report.read_text().replace('"Linear mixed model fit by REML"', repr(MARK)))
    kill_build_after(copy, chapters=2, log=tmp_path / "killed.log")
    finished = executed_chapters((tmp_path / "killed.log").read_text())
    assert len(finished) >= 2

    log = rebuild(copy)
    assert "no targets are out of date" not in log
    # Only the chapters the killed build had not finished run again.
    executed = executed_chapters(log)
    assert executed and not executed & finished, (executed, finished)
    assert executed | finished == set(SMALL_BOOK)  # every chapter ran after the edit
    site = copy / "_build" / "html"
    assert MARK in (site / "book" / "baseline.html").read_text()
    media = copy / "book" / "_media"
    assert sorted(path.stem for path in media.glob("*.mp4")) == sorted(ANIMATED)
    assert sorted(path.stem for path in media.glob("*.png")) == sorted(ANIMATED)


def test_a_deleted_media_file_is_made_again(small):
    media = small / "book" / "_media"
    (media / "few_obs.png").unlink()
    rebuild(small)
    assert (media / "few_obs.png").is_file()
    # An edit of that chapter's prose afterwards builds cleanly too.
    chapter = small / "book" / "few_obs.md"
    chapter.write_text(chapter.read_text() + "\nOne more sentence.\n")
    rebuild(small)
    assert "One more sentence." in (small / "_build" / "html" / "book" / "few_obs.html").read_text()


def test_an_emptied_or_cut_page_of_the_site_is_written_again(small):
    site = small / "_build" / "html"
    emptied, cut = site / "book" / "model.html", site / "book" / "baseline.html"
    whole = {page: page.read_text() for page in (emptied, cut)}
    emptied.write_text("")
    cut.write_text(whole[cut][: len(whole[cut]) // 2])
    log = rebuild(small)
    assert "2 page(s)" in log and "damaged" in log
    assert not executed_chapters(log)  # the executions are cached: only pages are written
    for page, text in whole.items():
        # The same page (its article; a stylesheet link may gain a version on a rebuild).
        def article(html):
            return html[html.index("<main"):html.index("</main>")]
        assert page.read_text().rstrip().endswith("</html>")
        assert article(page.read_text()) == article(text)


def test_a_damaged_cached_notebook_runs_its_chapter_again(small):
    # The model chapter: the cheapest to run again (no animation).
    _, notebook = cache_records(small)["model"]
    notebook.write_bytes(notebook.read_bytes()[:1000])  # as a full disk or a kill leaves it
    chapter = small / "book" / "model.md"  # a prose edit: the page is read again
    chapter.write_text(chapter.read_text() + "\nA sentence added after the damage.\n")
    log = rebuild(small)
    assert ("shrinkage: the cached execution of book/model.md could not be read; "
            "that chapter runs again") in log
    assert executed_chapters(log) == {"model"}
    assert "A sentence added after the damage." in (
        small / "_build" / "html" / "book" / "model.html").read_text()
    # The cache holds a good execution again: the next build runs nothing.
    again = rebuild(small)
    assert not executed_chapters(again) and "could not be read" not in again


def test_a_damaged_cache_database_is_made_anew(small):
    database = small / "_build" / ".jupyter_cache" / "global.db"
    database.write_bytes(database.read_bytes()[:len(database.read_bytes()) // 2])
    log = rebuild(small)
    assert "could not be read" in log and "made it anew, every chapter runs again" in log
    assert executed_chapters(log) >= set(ANIMATED)
    assert len(cache_records(small)) == len(executed_chapters(log))


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only mount needs root")
def test_a_read_only_build_folder_is_one_line(small):
    build = small / "_build"
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(build), str(build)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {mounted.stderr.strip()}")
    try:
        assert not os.access(build, os.W_OK)
        result = subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build",
                                 str(small)], capture_output=True, text=True,
                                env=own_package(small))
    finally:
        subprocess.run(["umount", str(build)], check=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: cannot write the build folder {build} (read-only file system); "
        "make it writable or build elsewhere"], result.stderr
    assert "Traceback" not in result.stdout


def test_a_package_edited_during_a_build_is_not_recorded_as_built(tmp_path):
    from types import SimpleNamespace

    from shrinkage_book import fresh_outputs

    root = tmp_path / "repo"
    for name in ("shrinkage/fit.py", "book/data/d.csv", "requirements.txt", "requirements.lock"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("version 1\n")
    (root / "_build" / "html").mkdir(parents=True)
    (root / "_build" / ".jupyter_cache").mkdir()
    app = SimpleNamespace(srcdir=str(root), outdir=str(root / "_build" / "html"),
                          config=SimpleNamespace(nb_execution_cache_path=""),
                          env=SimpleNamespace(found_docs=set()),
                          shrinkage_fingerprint=fresh_outputs.fingerprint(root))
    stamp = root / "_build" / ".jupyter_cache" / "shrinkage-fingerprint"
    (root / "shrinkage" / "fit.py").write_text("version 2\n")   # edited while the build ran
    fresh_outputs._record(app, None)
    assert not stamp.exists()
    app.shrinkage_fingerprint = fresh_outputs.fingerprint(root)  # a build of version 2
    fresh_outputs._record(app, None)
    assert stamp.read_text() == fresh_outputs.fingerprint(root)


# Last in this file: by then another test process has built the shared book.
def test_the_same_executions_build_the_same_site_again(book_copy, tmp_path):
    # Every page, download and search index read and written anew, the chapters' outputs
    # taken from the shared build's cache: Sphinx's side of the build is reproducible,
    # and outputs read back from the cache make the same site as a clean build's. (That
    # executing the chapters again gives the same outputs and media is checked by running
    # the downloaded notebooks, in test_book.py.)
    def site_and_state(folder, names):
        return [n for n in names if n in ("html", "jupyter_execute", ".doctrees")] \
            if Path(folder).name == "_build" else []

    copy = tmp_path / "repo"
    shutil.copytree(book_copy.path, copy, symlinks=True, ignore=site_and_state)
    log = build_book(copy)
    assert executed_chapters(log) == set()
    second = site_digests(copy / "_build" / "html")
    first = book_copy.digests
    assert first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert not differing, differing
