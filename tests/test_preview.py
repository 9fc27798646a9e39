"""scripts/preview.py: a saved edit rebuilds the book and reloads the open page."""
import re
import shutil
import sys
import time

import pytest

from conftest import ROOT, open_page

sys.path.insert(0, str(ROOT / "scripts"))
import preview  # noqa: E402

pytestmark = [pytest.mark.book, pytest.mark.browser]


def _wait_for_line(process, pattern, timeout):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if re.search(pattern, line):
            return line
    pytest.fail(f"no line matching {pattern!r} from the preview:\n{''.join(lines)[-3000:]}")


def test_a_saved_prose_edit_reloads_the_open_page(book_copy, tmp_path, browser):
    # On a copy of the tests' built book, with its build: the shared one is never edited.
    copy = tmp_path / "repo"
    shutil.copytree(book_copy.path, copy, symlinks=True)
    process, address = preview.launch(copy)
    chapter = copy / "book" / "model.md"
    text = chapter.read_text()
    try:  # (the edit is not undone: the copy goes with tmp_path)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", address)
        page, errors, _ = open_page(browser, f"{address}book/model.html")
        assert "reloaded after a save" not in page.inner_text("article")
        chapter.write_text(text.replace("\n## ", "\nThis sentence was reloaded after a save.\n\n## ", 1))
        page.wait_for_function(
            "document.querySelector('article').innerText.includes('reloaded after a save')",
            timeout=120_000)
        assert re.search(r"book/model\.md: rebuilt in [\d.]+ s",
                         _wait_for_line(process, r"rebuilt in", timeout=60))
        assert errors == []
        page.context.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()
