"""A loopback server that misbehaves in every way the fetch stages must survive."""

from __future__ import annotations

import gzip
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARTICLE = ("<html lang='en'><head><title>{title}</title></head><body><nav>Home | World</nav><article>"
           "<h1>{title}</h1>" + "<p>{text} The council met on Monday to discuss the budget, the new "
           "school building and the repairs to the old bridge over the river.</p>" * 6
           + "</article><footer>Copyright</footer></body></html>")

ROBOTS = b"User-agent: *\nDisallow: /private/\n"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><title>&lol3;</title><item><title>&lol3;</title>
<link>http://127.0.0.1/x</link></item></channel></rss>"""


def gzip_bomb(size: int) -> bytes:
    return gzip.compress(b"\0" * size, compresslevel=9)


def drip(h: BaseHTTPRequestHandler, byte: bytes, times: int = 100, pause: float = 0.1) -> None:
    """Writes ``byte`` ``times`` times, ``pause`` seconds apart, until the client hangs up."""
    try:
        for _ in range(times):
            h.wfile.write(byte)
            h.wfile.flush()
            time.sleep(pause)
    except OSError:
        pass


class HostileSite:
    """Routes (path -> behaviour); records every request with its time."""

    PAGES = {
        "/ok.html": "an ordinary article",
        "/slow-drip.html": "drips one byte at a time",
        "/slow-headers.html": "drips its response headers one byte at a time",
        "/huge.html": "an endless body",
        "/bomb.html": "a gzip bomb",
        "/loop-a.html": "redirects to loop-b, which redirects back",
        "/to-file.html": "redirects to file:///etc/passwd",
        "/report.pdf": "a PDF",
        "/image.html": "PNG bytes labelled text/html",
        "/latin1.html": "Latin-1 bytes labelled UTF-8",
        "/missing.html": "404",
        "/flaky.html": "503 twice, then the article",
        "/rate-limited.html": "429 with Retry-After: 1 once, then the article",
        "/private/secret.html": "disallowed by robots.txt",
        "/forbidden.html": "403 (never retried)",
    }

    def __init__(self) -> None:
        self.log: dict[str, list[float]] = defaultdict(list)
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                site.log[self.path].append(time.monotonic())
                site.route(self)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        # A port nothing listens on: bind, note the port, close.
        probe = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.closed_port_url = f"http://127.0.0.1:{probe.server_address[1]}/refused.html"
        probe.server_close()

    def feed(self) -> bytes:
        links = [self.base + p for p in self.PAGES] + [self.closed_port_url, "mailto:desk@example.org"]
        items = "".join(f"<item><title>{i}</title><link>{link}</link></item>" for i, link in enumerate(links))
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>h</title>{items}</channel></rss>'.encode()

    def route(self, h: BaseHTTPRequestHandler) -> None:
        path, count = h.path, len(self.log[h.path])

        def send(status, body=b"", ctype="text/html; charset=utf-8", headers=()):
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)

        def article(title):
            return ARTICLE.format(title=title, text=title).encode()

        if path == "/feed.xml":
            send(200, self.feed(), "application/rss+xml")
        elif path == "/laughs.xml":
            send(200, BILLION_LAUGHS, "application/rss+xml")
        elif path == "/garbage.xml":
            send(200, bytes(range(256)) * 20, "application/rss+xml")
        elif path == "/down.xml":
            send(500, b"oops")
        elif path == "/robots.txt":
            send(200, ROBOTS, "text/plain")
        elif path in ("/ok.html", "/private/secret.html"):
            send(200, article(path))
        elif path == "/slow-drip.html":
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", "100000")
            h.end_headers()
            drip(h, b"<")
        elif path == "/slow-headers.html":
            h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Drip: ")
            drip(h, b"a")
            h.close_connection = True
        elif path == "/huge.html":
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            try:
                for _ in range(1000):
                    chunk = b"<p>" + b"x" * 8192 + b"</p>"
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                h.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
        elif path == "/bomb.html":
            send(200, gzip_bomb(50_000_000), headers=[("Content-Encoding", "gzip")])
        elif path == "/loop-a.html":
            send(302, headers=[("Location", "/loop-b.html")])
        elif path == "/loop-b.html":
            send(302, headers=[("Location", "/loop-a.html")])
        elif path == "/to-file.html":
            send(302, headers=[("Location", "file:///etc/passwd")])
        elif path == "/report.pdf":
            send(200, b"%PDF-1.7\n" + b"0" * 2000, "application/pdf")
        elif path == "/image.html":
            send(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 2000, "text/html")
        elif path == "/latin1.html":
            send(200, article("Caf\u00e9 na\u00efve r\u00e9sum\u00e9").decode().encode("latin-1"))
        elif path == "/flaky.html":
            send(503, b"busy") if count <= 2 else send(200, article("flaky"))
        elif path == "/rate-limited.html":
            send(429, b"slow down", headers=[("Retry-After", "1")]) if count == 1 else send(
                200, article("rate limited"))
        elif path == "/forbidden.html":
            send(403, b"no")
        else:
            send(404, b"not found")

    def __enter__(self) -> "HostileSite":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
