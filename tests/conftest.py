import json
import os
import shutil
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

REFERENCE = Path(__file__).parent / "reference"
CASES = json.loads((REFERENCE / "cases.json").read_text())


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
# Real data sets with lme4 reference fits (tests/reference/NAME_object.json, fit_object.R):
# the file and the (y, x, cluster) columns.
REAL_DATA = {"sleepstudy": (ROOT / "shrinkage" / "datasets" / "sleepstudy.csv",
                            ("Reaction", "Days", "Subject")),
             "Orthodont": (REFERENCE / "Orthodont.csv", ("distance", "age", "Subject")),
             "BodyWeight": (REFERENCE / "BodyWeight.csv", ("weight", "Time", "Rat"))}
_NOT_COPIED = {".git", ".venv", "_build", "_media", "__pycache__", ".pytest_cache",
               ".ipynb_checkpoints", "shrinkage.egg-info"}


def run_book_build(source, env=None):
    """Build the book at ``source`` as the README's build command does."""
    import subprocess
    import sys

    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    return subprocess.run([str(jupyter_book), "build", str(source), "--warningiserror",
                           "--nitpick", "--keep-going"], capture_output=True, text=True, env=env)


def build_book(source, env=None):
    """Build the book at ``source``, which must succeed; return the log."""
    result = run_book_build(source, env)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return result.stdout + result.stderr


@pytest.fixture(scope="session")
def book_copy(tmp_path_factory):
    """A copy of the repository (sources only) with the book built from scratch in it."""
    import shutil

    copy = tmp_path_factory.mktemp("book") / "repo"
    shutil.copytree(ROOT, copy, ignore=lambda _, names: [n for n in names if n in _NOT_COPIED])
    log = build_book(copy)
    return copy, log


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


def open_page(browser, url, **context_options):
    """Open ``url``; return the page and lists of console errors and failed local loads."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors, failures = [], []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: failures.append(request.url))
    page.on("response", lambda response: response.status >= 400 and failures.append(
        f"{response.status} {response.url}"))
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, errors, failures
