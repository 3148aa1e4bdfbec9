"""A static site on loopback, for the demo, the tests and the benchmarks.

Serves a directory on 127.0.0.1 with a free port. In text files (.xml, .html, .opml,
.txt) the placeholder ``{{BASE}}`` becomes the server's own base URL, so fixture feeds
can carry absolute links without knowing the port in advance. Paths that do not exist
are 404s (the demo's dead link relies on that). Like most real servers it sends an ETag
and answers ``If-None-Match`` with ``304 Not Modified`` (``etags=False`` turns that off).
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

PLACEHOLDER = b"{{BASE}}"
_TEXT_SUFFIXES = {".xml", ".html", ".htm", ".opml", ".txt", ".rss", ".atom"}
_TYPES = {".xml": "application/xml", ".rss": "application/rss+xml",
          ".atom": "application/atom+xml", ".opml": "text/x-opml"}


class LoopbackSite:
    """Context manager: ``with LoopbackSite(root) as site: site.url("/feed.xml")``."""

    def __init__(self, root: Path | str, host: str = "127.0.0.1", etags: bool = True):
        self.root = Path(root).resolve()
        self.etags = etags
        self.requests: list[str] = []
        self.request_times: list[float] = []  # when each of `requests` arrived (time.time())
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                site.requests.append(self.path)
                site.request_times.append(time.time())
                body, ctype = site.render(urlsplit(self.path).path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
                if site.etags and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                if site.etags:
                    self.send_header("ETag", etag)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def render(self, path: str) -> tuple[bytes | None, str]:
        target = (self.root / unquote(path).lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if self.root not in target.parents or not target.is_file():
            return None, ""
        body = target.read_bytes()
        if target.suffix in _TEXT_SUFFIXES:
            body = body.replace(PLACEHOLDER, self.base.encode())
        ctype = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("xml"):
            ctype += "; charset=utf-8"
        return body, ctype

    def url(self, path: str) -> str:
        return self.base + "/" + path.lstrip("/")

    def __enter__(self) -> "LoopbackSite":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class GrowingFeedSite(LoopbackSite):
    """A LoopbackSite with one live RSS feed at ``feed_path`` that gains an item, linking to
    the next of ``item_paths`` (served from ``root``, or a 404 if absent), every time
    ``publish()`` is called or every ``interval`` seconds after ``start_publishing()``.
    ``appeared[url]`` is when each item entered the feed (for the streaming benchmark).
    """

    def __init__(self, root: Path | str, item_paths: list[str], feed_path: str = "/live/rss.xml"):
        super().__init__(root)
        self.item_paths = list(item_paths)
        self.feed_path = feed_path
        self.appeared: dict[str, float] = {}
        self._published: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def feed_url(self) -> str:
        return self.url(self.feed_path)

    def publish(self) -> bool:
        """Adds the next item; False when every item is out."""
        with self._lock:
            if len(self._published) == len(self.item_paths):
                return False
            path = self.item_paths[len(self._published)]
            self._published.append(path)
            self.appeared[self.url(path)] = time.time()
            return True

    def start_publishing(self, interval: float) -> threading.Thread:
        def loop():
            while self.publish() and not self._stop.wait(interval):
                pass

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def render(self, path: str) -> tuple[bytes | None, str]:
        if path != self.feed_path:
            return super().render(path)
        import email.utils

        with self._lock:
            published = list(self._published)
        items = "".join(
            f"<item><title>Item {i}</title><link>{self.url(p)}</link><guid>{self.url(p)}</guid>"
            f"<pubDate>{email.utils.formatdate(self.appeared[self.url(p)], usegmt=True)}</pubDate></item>"
            for i, p in enumerate(published))
        body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Live</title>'
                f"<link>{self.base}/live/</link><description>live feed</description>{items}</channel></rss>")
        return body.encode(), "application/rss+xml; charset=utf-8"

    def __exit__(self, *exc) -> None:
        self._stop.set()
        super().__exit__(*exc)
