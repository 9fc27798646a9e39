"""Serve the built site locally as GitHub Pages does: gzip-compressed text, cacheable.

Usage: python scripts/serve.py [--port 8000] [--folder _build/html]

For previewing the book and for measuring it (Lighthouse, page weight) under the
same conditions as the published site.
"""
import argparse
import functools
import gzip
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

# GitHub Pages compresses these types; images and videos are already compressed.
COMPRESSED = {".html", ".css", ".js", ".svg", ".json", ".txt", ".xml", ".ipynb", ".md"}


class GzipHandler(SimpleHTTPRequestHandler):
    """Static files, gzip-compressed when the browser accepts it."""

    def requested_file(self):
        """The file the request names (a folder's index.html for a folder)."""
        path = Path(self.translate_path(self.path))
        return path / "index.html" if path.is_dir() else path

    def send_head(self):
        path = self.requested_file()
        accepts = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (accepts and path.suffix in COMPRESSED and path.is_file()):
            return super().send_head()
        body = gzip.compress(path.read_bytes(), compresslevel=6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=600")
        self.end_headers()
        return BytesIO(body)

    def copyfile(self, source, outputfile):
        try:
            super().copyfile(source, outputfile)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser stopped reading (a video seek, a page left while loading)

    def log_message(self, *args):
        pass


def serve(folder, port=0):
    """A server for ``folder`` on 127.0.0.1 (``port`` 0: any free port); call serve_forever."""
    handler = functools.partial(GzipHandler, directory=str(folder))
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--folder", default=str(Path(__file__).parents[1] / "_build" / "html"))
    args = parser.parse_args(argv)
    if not (Path(args.folder) / "index.html").is_file():
        parser.error(f"folder: no built site at {args.folder} (run bash scripts/build)")
    httpd = serve(args.folder, args.port)
    print(f"serving {args.folder} at http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
