"""Preview the book while editing: build, serve, rebuild on save, reload the browser.

Usage: bash scripts/preview [--port 8000]   (--port 0: any free port)

Builds the book once, serves ``_build/html`` as ``scripts/serve.py`` does, and watches
the chapters, the configuration, the book's static files and the ``shrinkage`` package.
On a save it rebuilds in this process (Sphinx and the extensions stay imported, which
saves seconds per rebuild; the build executes only what changed: nothing for a
prose edit, the edited chapter for a code edit, every chapter for a package edit) and
every open page reloads. Each rebuild prints its time. A failed build is reported
and the last good site stays up. Restart it after editing ``book/_ext/``.
"""
import argparse
import functools
import re
import subprocess
import sys
import threading
import time
import traceback
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))

from serve import GzipHandler, ThreadingHTTPServer  # noqa: E402

WATCHED = ("book", "shrinkage", "_config.yml", "_toc.yml")
IGNORED = ("_media", "__pycache__", ".ipynb_checkpoints", "_ext")
# Added to every page the preview serves (never to the built files): reload when the
# server says the site changed.
RELOAD = (b"<script>new EventSource('/__preview_events').onmessage = (e) => {"
          b" if (window.__built && window.__built !== e.data) location.reload();"
          b" window.__built = e.data; };</script>")


class Site:
    """The number of the last good build; page requests wait on it."""

    def __init__(self):
        self.build = 0
        self.changed = threading.Condition()

    def finished(self):
        with self.changed:
            self.build += 1
            self.changed.notify_all()


def preview_handler(site):
    class PreviewHandler(GzipHandler):
        def do_GET(self):
            if self.path == "/__preview_events":
                return self.events()
            return super().do_GET()

        def send_head(self):
            path = self.requested_file()
            if path.suffix != ".html" or not path.is_file():
                return super().send_head()
            body = path.read_bytes().replace(b"</body>", RELOAD + b"</body>", 1)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            return BytesIO(body)

        def events(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = None
            try:
                while True:
                    with site.changed:
                        site.changed.wait_for(lambda last=seen: site.build != last, timeout=15)
                        current = site.build
                    message = f"data: {current}\n\n" if current != seen else ": still here\n\n"
                    self.wfile.write(message.encode())
                    self.wfile.flush()
                    seen = current
            except (BrokenPipeError, ConnectionResetError):
                pass

    return PreviewHandler


def launch(root):
    """Start the preview of the book at ``root`` in a new process, on any free port.

    For the tests and the benchmark: returns the process (its output as text lines on
    ``stdout``) once it serves, and the site's address.
    """
    process = subprocess.Popen([sys.executable, "-u", str(root / "scripts" / "preview.py"),
                                "--port", "0"], cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    printed = []
    for line in process.stdout:
        printed.append(line)
        address = re.search(r"previewing at (http://\S+/)", line)
        if address:
            return process, address.group(1)
    process.wait()
    raise RuntimeError("the preview stopped before serving:\n" + "".join(printed)[-3000:])


def snapshot():
    """Modification times of every watched file."""
    times = {}
    for name in WATCHED:
        path = ROOT / name
        for file in [path] if path.is_file() else path.rglob("*"):
            if file.is_file() and not any(part in IGNORED for part in file.relative_to(ROOT).parts):
                times[file] = file.stat().st_mtime_ns
    return times


def build():
    """Build the book in this process; True when it succeeded."""
    from jupyter_book.cli.main import main as jupyter_book

    try:
        jupyter_book(["build", str(ROOT), "--warningiserror", "--nitpick", "--keep-going", "-q"],
                     standalone_mode=False)
        return True
    except SystemExit as stop:
        return stop.code in (0, None)
    except Exception:  # a failed build: say why, keep serving the last good site
        traceback.print_exc(limit=1)
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    if not (0 <= args.port <= 65535):
        parser.error(f"port: must be 0-65535 (0: any free port), got {args.port}")
    site = Site()
    started = time.perf_counter()
    if not build():
        print("the first build failed (above); fix it and save to try again", flush=True)
    else:
        print(f"built in {time.perf_counter() - started:.1f} s", flush=True)
    handler = functools.partial(preview_handler(site), directory=str(ROOT / "_build" / "html"))
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(f"previewing at http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)", flush=True)
    seen = snapshot()
    try:
        while True:
            time.sleep(0.2)
            now = snapshot()
            if now == seen:
                continue
            changed = sorted(str(p.relative_to(ROOT)) for p in set(now) ^ set(seen)
                             | {p for p in now if seen.get(p) != now[p]})
            seen = now
            started = time.perf_counter()
            if build():
                site.finished()
                print(f"{', '.join(changed[:3])}: rebuilt in {time.perf_counter() - started:.1f} s",
                      flush=True)
            else:
                print(f"{', '.join(changed[:3])}: the build failed (above); the last good site stays",
                      flush=True)
            seen = snapshot()  # what the build itself wrote does not count as an edit
    except KeyboardInterrupt:
        httpd.shutdown()


if __name__ == "__main__":
    main()
