import json
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
