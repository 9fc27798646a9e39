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


def kill_build_after(source, chapters):
    """Start a build and SIGKILL it, with its kernels, once it has made ``chapters`` videos."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    media = source / "book" / "_media"
    process = subprocess.Popen([str(jupyter_book), "build", str(source)], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=own_package(source))
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


def test_a_killed_build_is_completed_by_the_next_one(second_copy):
    report = second_copy / "shrinkage" / "report.py"
    report.write_text(report.read_text().replace('"Linear mixed model fit by REML"', repr(MARK)))
    kill_build_after(second_copy, chapters=3)

    log = build_book(second_copy, own_package(second_copy))
    assert "no targets are out of date" not in log
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
