"""Load: 2,000 feeds on 100 loopback hosts with 20,000 items, 5% dead links and 1% slow
pages, through one default ``newsbeam run``, with the servers checking politeness.

    python -m benchmarks.load --data ../shared/data [--feeds 2000] [--hosts 100] [--items_per_feed 10]
        [--per_host_concurrency 2] [--per_host_delay 0.25] [--slow_s 3]

Host k listens on 127.0.0.(10+k), so the pipeline sees ``--hosts`` different hosts. Feed j
is on host j % hosts and lists ``--items_per_feed`` items of its own host. Item n is a
404 when n % 20 == 7 (5%), answers after ``--slow_s`` seconds when n % 100 == 3 (1%; under
the fetch timeout, so they are articles), and is otherwise a short news page (8-14 real
news sentences drawn afresh for each item from ``../shared/data``; generated when asked,
never written to disk). robots.txt allows everything.

Every server records, per host, each request's arrival (the kernel's receive timestamp of
its first bytes, so a busy server thread cannot make an arrival look late) and how many of
its requests were in flight at once (counted from the handler's start to the end of its
response; that span lies inside the client's own, so the count can only be lower than what
the client holds). The run passes when it exits 0, its manifest's conservation balances,
every dead link is a failure row with status 404, every other item is an article, no host
ever had more than ``--per_host_concurrency`` requests in flight, and no two requests to a
host arrived closer than ``--per_host_delay``. The shortest gaps are in the results with
the two paths. Results: benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import html
import json
import random
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

import duckdb

from benchmarks._procs import measure
from benchmarks._results import save
from benchmarks.corpus import sentences

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "load.json"
JITTER_S = 0.010


def is_dead(n: int) -> bool:
    return n % 20 == 7


def is_slow(n: int) -> bool:
    return n % 100 == 3


class HostRecord:
    """What one host saw: request arrivals (monotonic seconds) and its peak in-flight count."""

    def __init__(self):
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrivals: list[float] = []
        self.paths: list[str] = []

    def begin(self, path: str, arrived: float) -> None:
        with self._lock:
            self.arrivals.append(arrived)
            self.paths.append(path)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def gaps(self) -> list[float]:
        ordered = sorted(self.arrivals)
        return [b - a for a, b in zip(ordered, ordered[1:])]

    def short_gaps(self, below: float) -> list[tuple[float, str, str]]:
        """(gap, earlier path, later path) for every gap under ``below``."""
        ordered = sorted(zip(self.arrivals, self.paths))
        return [(round(b - a, 4), pa, pb) for (a, pa), (b, pb) in zip(ordered, ordered[1:]) if b - a < below]


# Linux: the kernel stamps each packet a socket receives (struct timespec, wall clock).
# Set on the listening socket, accepted connections inherit it.
SO_TIMESTAMPNS = 35


class StampingServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections get the kernel's receive timestamps."""

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        super().server_bind()


class _QuietServer(StampingServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client closing a kept-alive connection is not news


def kernel_arrival(conn: socket.socket) -> Optional[float]:
    """When the next request's first bytes reached this socket, by the kernel's clock.

    Peeks (reads nothing) and blocks until they are there. A timestamp taken in the
    handler instead would come late whenever the server's own threads are busy (100
    servers accepting their first connections at once), and a late first arrival makes
    the next gap look short. None when the peer closed the connection.
    """
    data, ancillary, _, _ = conn.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
    if not data:
        return None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
            sec, nsec = struct.unpack("qq", payload[:16])
            return sec + nsec / 1e9
    return time.time()  # not stamped (not Linux?): the handler's own clock


class StampedHandler(BaseHTTPRequestHandler):
    """A request handler (of a ``StampingServer``) that knows when each request arrived:
    ``self.arrived``, the kernel's receive time of its first bytes (``kernel_arrival``)."""

    arrived: Optional[float] = None

    def handle_one_request(self) -> None:
        try:
            self.arrived = kernel_arrival(self.connection)
        except OSError:
            self.arrived = None
        if self.arrived is None:  # the client closed the connection
            self.close_connection = True
            return
        super().handle_one_request()


class LoadSites:
    """``hosts`` news sites on 127.0.0.(10+k), serving feeds, pages, 404s and slow pages."""

    def __init__(self, pool: list[str], hosts: int, feeds: int, items_per_feed: int, slow_s: float, seed: int = 29):
        self.pool, self.hosts, self.feeds, self.per_feed = pool, hosts, feeds, items_per_feed
        self.slow_s, self.seed = slow_s, seed
        self.records = [HostRecord() for _ in range(hosts)]
        self.bases: list[str] = []
        self._stack = ExitStack()

    def __enter__(self) -> "LoadSites":
        for k in range(self.hosts):
            server = _QuietServer((f"127.0.0.{10 + k}", 0), self._handler(k))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._stack.callback(server.server_close)
            self._stack.callback(server.shutdown)
            self.bases.append(f"http://127.0.0.{10 + k}:{server.server_address[1]}")
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def feed_urls(self) -> list[str]:
        return [f"{self.bases[j % self.hosts]}/feeds/{j}.xml" for j in range(self.feeds)]

    def items(self) -> int:
        return self.feeds * self.per_feed

    def feed(self, j: int) -> bytes:
        base = self.bases[j % self.hosts]
        items = "".join(
            f"<item><title>Item {n}</title><link>{base}/a/{n}.html</link><guid>load-{n}</guid>"
            f"<pubDate>Fri, 27 Nov 2026 {n % 24:02d}:{n % 60:02d}:00 GMT</pubDate></item>"
            for n in range(j * self.per_feed, (j + 1) * self.per_feed))
        return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Load feed {j}</title>'
                f"<link>{base}/</link>{items}</channel></rss>").encode()

    def page(self, n: int) -> bytes:
        rng = random.Random(self.seed * 1_000_003 + n)
        title = rng.choice(self.pool)[:120]
        body = rng.sample(self.pool, rng.randint(8, 14))
        paras = "".join(f"<p>{html.escape(' '.join(body[i:i + 3]))}</p>" for i in range(0, len(body), 3))
        return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                f'<meta property="article:published_time" content="2026-11-27T{n % 24:02d}:00:00Z"></head><body>'
                "<nav><a href='/'>Home</a> <a href='/world'>World</a> <a href='/sport'>Sport</a></nav>"
                f"<article><h1>{html.escape(title)}</h1>{paras}</article>"
                "<footer>&copy; Load News. All rights reserved.</footer></body></html>").encode()

    def _handler(self, host: int):
        sites, record = self, self.records[host]

        class Handler(StampedHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers and the client's session use

            def do_GET(self):  # noqa: N802 (http.server's naming)
                record.begin(self.path, self.arrived)
                try:
                    self._answer(self.path)
                finally:
                    record.end()

            def _answer(self, path: str) -> None:
                body, ctype = None, "text/html; charset=utf-8"
                if path == "/robots.txt":
                    body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
                elif path.startswith("/feeds/") and path.endswith(".xml"):
                    j = int(path[len("/feeds/"):-len(".xml")])
                    if j % sites.hosts == host and j < sites.feeds:
                        body, ctype = sites.feed(j), "application/rss+xml"
                elif path.startswith("/a/") and path.endswith(".html"):
                    n = int(path[len("/a/"):-len(".html")])
                    if not is_dead(n) and n < sites.items():
                        if is_slow(n):
                            time.sleep(sites.slow_s)
                        body = sites.page(n)
                if body is None:
                    body, status, ctype = b"not found", 404, "text/plain"
                else:
                    status = 200
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def log_message(self, *args):
                pass

        return Handler


def politeness(records: list[HostRecord], concurrency: int, delay: float) -> dict:
    gaps = [g for r in records for g in r.gaps()]
    requests = [len(r.arrivals) for r in records]
    return {
        "requests": sum(requests),
        "requests_per_host": {"min": min(requests), "max": max(requests)},
        "max_in_flight_any_host": max(r.max_in_flight for r in records),
        "per_host_concurrency": concurrency,
        "min_gap_s": round(min(gaps), 4) if gaps else None,
        "median_gap_s": round(statistics.median(gaps), 4) if gaps else None,
        "per_host_delay_s": delay,
        "gaps_below_delay": sum(g < delay for g in gaps),
        f"gaps_below_delay_less_{int(JITTER_S * 1000)}ms": sum(g < delay - JITTER_S for g in gaps),
        "shortest_gaps": sorted(([g, f"127.0.0.{10 + k}", a, b] for k, r in enumerate(records)
                                 for g, a, b in r.short_gaps(delay)))[:20],
    }


def read_back(out: Path) -> dict:
    """The run's manifest conservation and what its tables hold, read with DuckDB."""
    (manifest,) = sorted((out / "runs").glob("*.json"))
    con = duckdb.connect()

    def count(sql: str) -> int:
        return con.execute(sql).fetchone()[0]

    # A table with no rows in the run has no files (and DuckDB's glob would fail on it).
    tables = {t: (f"read_parquet('{out / t}/**/*.parquet', hive_partitioning = true, union_by_name = true)"
                  if any((out / t).rglob("*.parquet")) else
                  "(SELECT NULL::VARCHAR AS article_id, NULL::INT AS http_status, NULL::VARCHAR AS url, "
                  "NULL::VARCHAR AS stage, NULL::VARCHAR AS error WHERE false)")
              for t in ("articles", "duplicates", "failures")}
    return {
        "conservation": json.loads(manifest.read_text())["conservation"],
        "articles": count(f"SELECT count(*) FROM {tables['articles']}"),
        "distinct_article_ids": count(f"SELECT count(DISTINCT article_id) FROM {tables['articles']}"),
        "duplicates": count(f"SELECT count(*) FROM {tables['duplicates']}"),
        "page_404_failures": count(f"SELECT count(*) FROM {tables['failures']} WHERE http_status = 404 "
                                   "AND url LIKE '%/a/%'"),
        "failures_by_stage_error": [list(r) for r in con.execute(
            f"SELECT stage, error, count(*) FROM {tables['failures']} GROUP BY ALL ORDER BY 3 DESC").fetchall()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--items_per_feed", type=int, default=10)
    parser.add_argument("--per_host_concurrency", type=int, default=2)
    parser.add_argument("--per_host_delay", type=float, default=0.25)
    parser.add_argument("--slow_s", type=float, default=3.0)
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    if not 1 <= args.hosts <= 240:
        raise SystemExit("--hosts must be 1-240 (hosts live on 127.0.0.10-249)")
    pool = sentences(Path(args.data))
    with tempfile.TemporaryDirectory() as tmp, \
            LoadSites(pool, args.hosts, args.feeds, args.items_per_feed, args.slow_s) as sites:
        work = Path(tmp)
        feed_list = work / "feeds.txt"
        feed_list.write_text("".join(f"{u}\n" for u in sites.feed_urls()), encoding="utf-8")
        items = sites.items()
        dead = sum(is_dead(n) for n in range(items))
        slow = sum(is_slow(n) for n in range(items))
        print(f"load: {args.feeds} feeds on {args.hosts} hosts, {items} items ({dead} dead, {slow} slow)", flush=True)
        m = measure([sys.executable, "-m", "pipeline", "run", f"--feeds={feed_list}", f"--output={work / 'out'}",
                     "--allow_private_hosts", f"--per_host_concurrency={args.per_host_concurrency}",
                     f"--per_host_delay={args.per_host_delay}"], cwd=ROOT)
        polite = politeness(sites.records, args.per_host_concurrency, args.per_host_delay)
        said = (m.stdout.strip().splitlines() or [""])[-1]
        if m.returncode != 0:
            print(m.stderr[-3000:], file=sys.stderr)
        found = read_back(work / "out") if m.returncode == 0 else {}
    cons = found.get("conservation", {})
    checks = {
        "completed": m.returncode == 0,
        "balanced": bool(cons.get("balanced")),
        "items_in_equals_feed_items": cons.get("items_in") == items,
        "every_dead_link_is_a_404_failure": found.get("page_404_failures") == dead,
        "every_live_item_is_an_article": found.get("articles") == items - dead,
        "article_ids_unique": found.get("articles") == found.get("distinct_article_ids"),
        "concurrency_never_exceeded": polite["max_in_flight_any_host"] <= args.per_host_concurrency,
        "delay_never_shortened": polite["gaps_below_delay"] == 0,
    }
    result = {
        "benchmark": "load",
        "setup": {"feeds": args.feeds, "hosts": args.hosts, "items": items, "dead_links": dead, "slow_pages": slow,
                  "slow_s": args.slow_s, "runner": "newsbeam run defaults (every core)",
                  "per_host_concurrency": args.per_host_concurrency, "per_host_delay_s": args.per_host_delay},
        "seconds": round(m.seconds, 1),
        "peak_rss_mb": round(m.peak_rss_mb, 1),
        "said": said,
        "politeness": polite,
        **found,
        "checks": checks,
        "passed": all(checks.values()),
    }
    save(Path(args.results), result)
    print(f"load: {result['seconds']} s, peak {result['peak_rss_mb']} MB; {said}", flush=True)
    print(f"load: politeness { {k: v for k, v in polite.items() if k != 'shortest_gaps'} }", flush=True)
    for gap in polite["shortest_gaps"][:10]:
        print(f"  short gap {gap}", flush=True)
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}", flush=True)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
