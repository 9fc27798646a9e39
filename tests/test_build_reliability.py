"""The build stays current when it is interrupted or its media are deleted, and is reproducible."""
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import _NOT_COPIED, ROOT, build_book

pytestmark = pytest.mark.book

ANIMATED = ["baseline", "more_variance", "more_slope_variance", "few_obs", "many_obs",
            "unbalanced", "sleepstudy"]
MARK = "Linear mixed model fit by REML (edited)"


def site_digests(site):
    return {path.relative_to(site).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(site.rglob("*")) if path.is_file()}


def own_package(copy):
    """An environment whose kernels import the copy's ``shrinkage``, not the installed one."""
    return {**os.environ, "PYTHONPATH": str(copy)}


def kill_build_after(source, chapters, log):
    """Start a build and SIGKILL it, with its kernels, once it has made ``chapters`` videos.

    What the build printed until then goes to the file ``log``.
    """
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    media = source / "book" / "_media"
    with open(log, "w") as sink:
        process = subprocess.Popen([str(jupyter_book), "build", str(source)],
                                   start_new_session=True, stdout=sink, stderr=subprocess.STDOUT,
                                   env={**own_package(source), "PYTHONUNBUFFERED": "1"})
    started, deadline = time.time(), time.monotonic() + 300

    def fresh_videos():  # videos this build has written, not those of the build before
        made = []
        for video in media.glob("*.mp4"):
            try:
                made += [video] if video.stat().st_mtime > started else []
            except FileNotFoundError:  # cleared by the build meanwhile
                pass
        return made

    while len(fresh_videos()) < chapters:
        assert process.poll() is None, "the build ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def built_twice(tmp_path_factory):
    """A copy of the repository built from scratch twice; the first site's digests."""
    copy = tmp_path_factory.mktemp("again") / "repo"
    shutil.copytree(ROOT, copy, ignore=lambda _, names: [n for n in names if n in _NOT_COPIED])
    build_book(copy, own_package(copy))
    first = site_digests(copy / "_build" / "html")
    shutil.rmtree(copy / "_build")
    shutil.rmtree(copy / "book" / "_media")
    build_book(copy, own_package(copy))
    return copy, first


@pytest.fixture(scope="module")
def second_copy(built_twice):
    return built_twice[0]


def test_two_clean_builds_give_the_same_site(built_twice):
    copy, first = built_twice
    second = site_digests(copy / "_build" / "html")
    assert first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert not differing, differing


def chapters_logged(log, event):
    """The chapters whose ``event`` ("Executing notebook", "Cached executed notebook") myst-nb logged."""
    return {Path(line.split(":")[0]).stem for line in log.splitlines() if event in line}


def test_a_killed_build_is_completed_by_the_next_one(second_copy, tmp_path):
    report = second_copy / "shrinkage" / "report.py"
    report.write_text(report.read_text().replace('"Linear mixed model fit by REML"', repr(MARK)))
    kill_build_after(second_copy, chapters=3, log=tmp_path / "killed.log")
    finished = chapters_logged((tmp_path / "killed.log").read_text(), "Cached executed notebook")
    assert {"baseline", "does_it_pay"} <= finished  # the first chapters read, and finished

    log = build_book(second_copy, own_package(second_copy))
    assert "no targets are out of date" not in log
    # Only the chapters the killed build had not finished run again.
    executed = chapters_logged(log, "Executing notebook")
    assert executed and not executed & finished, (executed, finished)
    assert "unbalanced" in executed  # read last of the animated chapters
    site = second_copy / "_build" / "html"
    assert MARK in (site / "book" / "baseline.html").read_text()
    media = second_copy / "book" / "_media"
    assert sorted(path.stem for path in media.glob("*.mp4")) == sorted(ANIMATED)
    assert sorted(path.stem for path in media.glob("*.png")) == sorted(ANIMATED)


def test_a_deleted_media_file_is_made_again(second_copy):
    media = second_copy / "book" / "_media"
    (media / "few_obs.png").unlink()
    build_book(second_copy, own_package(second_copy))
    assert (media / "few_obs.png").is_file()
    # An edit of that chapter's prose afterwards builds cleanly too.
    chapter = second_copy / "book" / "few_obs.md"
    chapter.write_text(chapter.read_text() + "\nOne more sentence.\n")
    build_book(second_copy, own_package(second_copy))
    assert "One more sentence." in (second_copy / "_build" / "html" / "book" / "few_obs.html").read_text()


def cache_records(copy):
    """{chapter: (record, notebook path)} of the copy's execution cache."""
    from jupyter_cache import get_cache

    store = get_cache(copy / "_build" / ".jupyter_cache")
    return {Path(record.uri).stem: (record, store._get_notebook_path_cache(record.hashkey))
            for record in store.list_cache_records()}


def test_a_damaged_cached_notebook_runs_its_chapter_again(second_copy):
    _, notebook = cache_records(second_copy)["few_obs"]
    notebook.write_bytes(notebook.read_bytes()[:1000])   # as a full disk or a kill leaves it
    chapter = second_copy / "book" / "few_obs.md"          # a prose edit: the page is read again
    chapter.write_text(chapter.read_text() + "\nA sentence added after the damage.\n")
    log = build_book(second_copy, own_package(second_copy))
    assert ("shrinkage: the cached execution of book/few_obs.md could not be read; "
            "that chapter runs again") in log
    assert chapters_logged(log, "Executing notebook") == {"few_obs"}
    assert "A sentence added after the damage." in (
        second_copy / "_build" / "html" / "book" / "few_obs.html").read_text()
    # The cache holds a good execution again: the next build runs nothing.
    again = build_book(second_copy, own_package(second_copy))
    assert not chapters_logged(again, "Executing notebook") and "could not be read" not in again


def test_a_damaged_cache_database_is_made_anew(second_copy):
    database = second_copy / "_build" / ".jupyter_cache" / "global.db"
    database.write_bytes(database.read_bytes()[:len(database.read_bytes()) // 2])
    log = build_book(second_copy, own_package(second_copy))
    assert "could not be read" in log and "made it anew, every chapter runs again" in log
    assert chapters_logged(log, "Executing notebook") >= set(ANIMATED)
    assert len(cache_records(second_copy)) == len(chapters_logged(log, "Executing notebook"))


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only mount needs root")
def test_a_read_only_build_folder_is_one_line(second_copy):
    build = second_copy / "_build"
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(build), str(build)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {mounted.stderr.strip()}")
    try:
        assert not os.access(build, os.W_OK)
        result = subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build",
                                 str(second_copy)], capture_output=True, text=True,
                                env=own_package(second_copy))
    finally:
        subprocess.run(["umount", str(build)], check=True)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: cannot write the build folder {build} (read-only file system); "
        "make it writable or build elsewhere"], result.stderr
    assert "Traceback" not in result.stdout


def test_a_package_edited_during_a_build_is_not_recorded_as_built(tmp_path):
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from types import SimpleNamespace

    import fresh_outputs

    root = tmp_path / "repo"
    for name in ("shrinkage/fit.py", "book/data/d.csv", "requirements.txt", "requirements.lock"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("version 1\n")
    (root / "_build" / "html").mkdir(parents=True)
    (root / "_build" / ".jupyter_cache").mkdir()
    app = SimpleNamespace(srcdir=str(root), outdir=str(root / "_build" / "html"),
                          config=SimpleNamespace(nb_execution_cache_path=""),
                          shrinkage_fingerprint=fresh_outputs.fingerprint(root))
    stamp = root / "_build" / ".jupyter_cache" / "shrinkage-fingerprint"
    (root / "shrinkage" / "fit.py").write_text("version 2\n")   # edited while the build ran
    fresh_outputs._record(app, None)
    assert not stamp.exists()
    app.shrinkage_fingerprint = fresh_outputs.fingerprint(root)  # a build of version 2
    fresh_outputs._record(app, None)
    assert stamp.read_text() == fresh_outputs.fingerprint(root)
