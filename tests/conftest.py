import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest

# The order tests are handed out in, with pytest-xdist (one test process per core): the
# files that build books first, so that the builds start at once, then the tests that
# open pages in a browser (mostly waiting, beside the other process's computing), then
# the other files.
_FIRST = ["test_build_reliability.py", "test_packaging.py", "test_book.py", "test_browser.py",
          "test_explorer.py", "test_preview.py"]
# Files whose tests may each go to whichever test process is free: they read the shared
# build or open their own pages. Every other file's tests stay together in one process,
# which makes its module's fixtures (a small book, fits, studies) once.
_SPREAD = {"test_book.py", "test_browser.py", "test_explorer.py", "test_other_seeds.py"}


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return _FIRST.index(name) if name in _FIRST else len(_FIRST)

    items.sort(key=rank)  # stable: each file's tests stay together and in order


def pytest_xdist_make_scheduler(config, log):
    """Hand out work as :data:`_SPREAD` says, in the order collected.

    (xdist's own ``--dist loadgroup`` cannot do it with this pytest: it marks a group in
    the test's id, which pytest 9.2 no longer lets a plugin change; pytest-xdist issue
    1386.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class SpreadOrByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            file = nodeid.split("::", 1)[0]
            return nodeid if Path(file).name in _SPREAD else file

    config.option.loadscopereorder = False  # keep the order above: builds first
    return SpreadOrByFile(config, log)


REFERENCE = Path(__file__).parent / "reference"
CASES = json.loads((REFERENCE / "cases.json").read_text())


SHRINKAGE = [sys.executable, "-m", "shrinkage"]


def run_shrinkage(*args, **kwargs):
    """``python -m shrinkage ARGS`` in a new process, its output captured as text.

    For what only a process shows: its exit status, signals, its standard output as a
    file descriptor.  :func:`shrinkage_main` runs the same command without starting one.
    """
    return subprocess.run([*SHRINKAGE, *args], capture_output=True, text=True, **kwargs)


@pytest.fixture
def shrinkage_main(capfd, monkeypatch):
    """Run ``python -m shrinkage ARGS`` in this process: ``shrinkage.cli.main`` with
    standard output and error captured at their file descriptors, as
    :func:`run_shrinkage` captures them.  ``cwd`` and ``stdin`` (text) apply to the call.
    Returns a :class:`subprocess.CompletedProcess` whose ``returncode`` is the exit
    status ``python -m shrinkage`` would end with.
    """
    from shrinkage.cli import main

    def run(*args, cwd=None, stdin=None):
        with monkeypatch.context() as patch:
            if cwd is not None:
                patch.chdir(cwd)
            if stdin is not None:
                patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
            capfd.readouterr()
            try:
                status = main(list(args))
            except SystemExit as end:  # argparse's refusals
                status = end.code
            out, err = capfd.readouterr()
        return subprocess.CompletedProcess([*SHRINKAGE, *args], status, out, err)

    return run


def read_reference(name):
    """The R data (CSV) and lme4 fit (JSON) of one article setting."""
    return (pd.read_csv(REFERENCE / f"{name}.csv"),
            json.loads((REFERENCE / f"{name}.json").read_text()))


@pytest.fixture(params=sorted(CASES), scope="module")
def article_case(request):
    name = request.param
    data, fit = read_reference(name)
    return name, CASES[name], data, fit


ROOT = Path(__file__).resolve().parent.parent
# The book's Sphinx extensions, for the tests of their pieces (from shrinkage_book import fresh_outputs, ...).
sys.path.insert(0, str(ROOT / "book" / "_ext"))
# Real data sets with lme4 reference fits (tests/reference/NAME_object.json, fit_object.R):
# the file and the (y, x, cluster) columns.
REAL_DATA = {"sleepstudy": (ROOT / "shrinkage" / "datasets" / "sleepstudy.csv",
                            ("Reaction", "Days", "Subject")),
             "Orthodont": (REFERENCE / "Orthodont.csv", ("distance", "age", "Subject")),
             "BodyWeight": (REFERENCE / "BodyWeight.csv", ("weight", "Time", "Rat"))}
_NOT_COPIED = {".git", ".venv", "_build", "_media", "__pycache__", ".pytest_cache",
               ".ipynb_checkpoints", "shrinkage.egg-info"}


def copy_repository(destination):
    """Copy the repository's sources (no build, media or environment) to ``destination``."""
    shutil.copytree(ROOT, destination, ignore=lambda _, names: [n for n in names if n in _NOT_COPIED])
    return destination


def own_package(copy):
    """An environment whose kernels import the copy's ``shrinkage``, not the installed one."""
    return {**os.environ, "PYTHONPATH": str(copy)}


def run_book_build(source, env=None, strict=True):
    """Build the book at ``source`` as the README's build command does.

    ``strict=False`` leaves out ``--warningiserror`` and ``--nitpick``: for a copy whose
    table of contents leaves out chapters that the others link to.
    """
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    options = ["--warningiserror", "--nitpick", "--keep-going"] if strict else []
    return subprocess.run([str(jupyter_book), "build", str(source), *options],
                          capture_output=True, text=True, env=env)


def build_book(source, env=None, strict=True):
    """Build the book at ``source``, which must succeed; return the log."""
    result = run_book_build(source, env, strict)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return result.stdout + result.stderr


def executed_chapters(log):
    """The chapters a build's log says were executed (book/_ext/shrinkage_book/parallel_execution.py)."""
    return {Path(path).stem for path in re.findall(r"shrinkage: executed (\S+) in ", log)}


def site_digests(site):
    return {path.relative_to(site).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(site.rglob("*")) if path.is_file()}


def run_in_one_kernel(runs, cwd, timeout=600):
    """Execute ``runs``, each ``(name, prelude, cells)``, one after another in one kernel.

    Before each run a cell clears the variables (``%reset -f``) and then runs its
    ``prelude``, so a cell that needs a name its run has not defined still fails.  The
    kernel starts in ``cwd``.  Returns each run's executed cells (the prelude left out);
    a run that fails is named in the error.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    combined, spans = nbformat.v4.new_notebook(), []
    for name, prelude, cells in runs:
        combined.cells.append(nbformat.v4.new_code_cell("%reset -f\n" + prelude))
        first = len(combined.cells)
        combined.cells.extend(nbformat.from_dict(cell) for cell in cells)
        spans.append((name, slice(first, len(combined.cells))))
    try:
        NotebookClient(combined, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(cwd)}}).execute()
    except CellExecutionError as error:
        failed = next((name for name, span in spans
                       if any(output.get("output_type") == "error"
                              for cell in combined.cells[span.start - 1:span.stop]
                              for output in cell.get("outputs", []))), "a run")
        raise AssertionError(f"{failed} failed:\n{error}") from None
    return [combined.cells[span] for _, span in spans]


class BuiltBook(NamedTuple):
    path: Path
    log: str
    digests: dict  # of every file of the built site


@contextlib.contextmanager
def _locked(path):
    """Hold an exclusive lock on the file ``path`` (made if missing) for the block."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _shared_folder(tmp_path_factory):
    """A folder every test process of this run sees (pytest-xdist's workers share the parent)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def book_copy(tmp_path_factory):
    """A copy of the repository (sources only) with the book built from scratch in it.

    The one full build that the tests reading the site share: the first test process
    to need it builds it, the others wait for it and read what it recorded.  No test
    edits it.
    """
    shared = _shared_folder(tmp_path_factory)
    copy, record = shared / "book" / "repo", shared / "book-built.json"
    with _locked(shared / "book.lock"):
        if not record.is_file():
            shutil.rmtree(copy, ignore_errors=True)  # what a failed attempt left
            copy_repository(copy)
            log = build_book(copy)
            record.write_text(json.dumps({"log": log,
                                          "digests": site_digests(copy / "_build" / "html")}))
    built = json.loads(record.read_text())
    return BuiltBook(copy, built["log"], built["digests"])


# A book of the introduction, the model and two animated chapters, for the tests of
# how builds execute, cache and recover: the same machinery in a fifth of the time. Three
# chapters on two kernels: a build killed once two have finished leaves the third to run
# (the model chapter: the longest chapters start first, so it starts when one has finished).
SMALL_BOOK = ["model", "baseline", "few_obs"]


def small_book(destination):
    """A copy of the repository whose table of contents is :data:`SMALL_BOOK`, built."""
    copy = copy_repository(destination)
    chapters = "".join(f"  - file: book/{name}\n" for name in SMALL_BOOK)
    (copy / "_toc.yml").write_text(f"format: jb-book\nroot: book/intro\nchapters:\n{chapters}")
    return copy, build_book(copy, own_package(copy), strict=False)


@pytest.fixture(scope="session")
def site(book_copy):
    return book_copy[0] / "_build" / "html"


# The browser tests' fixtures (test_browser.py, test_explorer.py).
# Debian's chromium by default; $CHROMIUM names another installed Chromium-based browser.
CHROMIUM = shutil.which(os.environ.get("CHROMIUM", "chromium"))
# Chromium on a closed network: no background services, no sandbox (root in CI).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def server(site):
    # The site as GitHub Pages serves it, gzip-compressed (scripts/serve.py).
    sys.path.insert(0, str(ROOT / "scripts"))
    from serve import serve

    httpd = serve(site)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip(f"no browser: {os.environ.get('CHROMIUM', 'chromium')!r} is not on PATH "
                    "(install Debian's 'chromium' package; .ci/run does so when run as root)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (requirements-test.txt)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class _Tab:
    """A browser tab, and the console errors and failed loads of its current page."""

    def __init__(self, browser, **context_options):
        self.page = browser.new_context(**context_options).new_page()
        self.errors, self.failures = [], []
        self.page.on("console", lambda message: message.type == "error"
                     and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("requestfailed", lambda request: self.failures.append(request.url))
        self.page.on("response", lambda response: response.status >= 400
                     and self.failures.append(f"{response.status} {response.url}"))

    def visit(self, url):
        """Go to ``url``; return the page and lists of console errors and failed local loads."""
        if self.page.url != "about:blank":
            # Leave the last page first: what it still had in flight is cancelled here
            # and not counted against the next page, and the next visit is always a
            # new navigation, never a reload of the same address.
            self.page.goto("about:blank")
        self.errors, self.failures = [], []
        self.page.goto(url, wait_until="load")
        self.page.wait_for_load_state("networkidle")
        return self.page, self.errors, self.failures


def open_page(browser, url, **context_options):
    """Open ``url`` in a new browser context; return the page, console errors and failed loads.

    For a test that changes what the browser keeps (the theme switch, print media,
    downloads); :func:`visit` serves the tests that only read and use the page.
    """
    return _Tab(browser, **context_options).visit(url)


@pytest.fixture(scope="module")
def visit(browser):
    """``visit(url, **context_options)``: :func:`open_page` in a tab kept for those options.

    A reader's browser goes from page to page with its cache and its processes; a
    new context per page costs about four times the processor time of a visit in a
    kept tab (1.9 s against 0.5 s here). Tests that change what the browser keeps
    use :func:`open_page` instead.
    """
    tabs = {}

    def visit(url, **context_options):
        key = repr(sorted(context_options.items()))
        if key not in tabs:
            tabs[key] = _Tab(browser, **context_options)
        return tabs[key].visit(url)

    yield visit
    for tab in tabs.values():
        tab.page.context.close()
