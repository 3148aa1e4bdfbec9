"""fetch_politely against real loopback servers on several 127.0.0.x hosts."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from benchmarks.load import StampedHandler, StampingServer
from transforms._http import FetchConfig
from transforms._polite import (
    FetchRequest,
    PoliteClient,
    RobotsDisallowed,
    _Host,
    fetch_politely,
    host_of,
    stream_politely,
)


class _Hosts:
    """One server per 127.0.0.k; each records every request's arrival and path, and in-flight peaks.

    The arrival is the kernel's receive time of the request's first bytes
    (``benchmarks.load.StampedHandler``), not a clock read in the handler: under load the
    handler thread starts late now and then, and a late first arrival makes the next gap
    look short (a CI run saw 85 ms between two requests sent 100 ms apart)."""

    def __init__(self, n: int, latency: float = 0.05, robots: bytes | None = None, robots_status: int = 200):
        self.log = defaultdict(list)
        self.in_flight = defaultdict(int)
        self.peak = defaultdict(int)
        lock = threading.Lock()
        hosts = self

        class Handler(StampedHandler):
            def do_GET(self):  # noqa: N802
                host = self.server.server_address[0]
                with lock:
                    hosts.in_flight[host] += 1
                    hosts.peak[host] = max(hosts.peak[host], hosts.in_flight[host])
                time.sleep(latency)
                # Out of flight before the answer goes: once it has, the client may send its
                # next request, and a handler thread slow to come back here (a loaded
                # machine) would count the one it answered too.
                with lock:
                    hosts.in_flight[host] -= 1
                    hosts.log[host].append((self.arrived, self.path))
                if self.path == "/robots.txt":
                    body, status = (robots or b""), (robots_status if robots is not None else 404)
                else:
                    body, status = b"<html>ok</html>", 200
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.servers = [StampingServer((f"127.0.0.{k}", 0), Handler) for k in range(1, n + 1)]
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def urls(self, per_host: int) -> list[str]:
        return [f"http://127.0.0.{k + 1}:{s.server_address[1]}/p{i}" for k, s in enumerate(self.servers)
                for i in range(per_host)]

    def close(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def hosts_factory():
    made = []

    def make(*args, **kwargs):
        made.append(_Hosts(*args, **kwargs))
        return made[-1]

    yield make
    for hosts in made:
        hosts.close()


def test_per_host_delay_and_concurrency_hold_while_hosts_run_in_parallel(hosts_factory):
    hosts = hosts_factory(4, latency=0.3)
    cfg = FetchConfig(allow_private_hosts=True, per_host_delay=0.1, per_host_concurrency=2, fetch_threads=16)
    started = time.monotonic()
    out = fetch_politely(PoliteClient(cfg), [FetchRequest(i, u) for i, u in enumerate(hosts.urls(6))])
    elapsed = time.monotonic() - started
    assert sorted(o.key for o in out) == list(range(24)) and all(o.response for o in out)
    for host, entries in hosts.log.items():
        starts = sorted(t for t, _ in entries)
        assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.1 - 0.01, host
        assert hosts.peak[host] <= 2
    # 7 requests per host (robots + 6), 2 at a time, 0.3 s each: about 1.2 s; sequentially 8.4 s.
    assert elapsed < 4.0


def test_the_delay_holds_across_batches_to_the_same_host(hosts_factory):
    """The feed stage and the page stage are two batches for one host: the second must not
    start its first request sooner than one delay after the first batch's last."""
    hosts = hosts_factory(1, latency=0.0)
    client = PoliteClient(FetchConfig(allow_private_hosts=True, per_host_delay=0.3, respect_robots=False))
    urls = hosts.urls(4)
    fetch_politely(client, [FetchRequest(i, u) for i, u in enumerate(urls[:2])])
    fetch_politely(client, [FetchRequest(i, u) for i, u in enumerate(urls[2:])])
    starts = sorted(t for t, _ in hosts.log["127.0.0.1"])
    assert len(starts) == 4
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.3 - 0.01


def test_sends_to_a_host_wait_for_the_previous_send_to_have_gone_out():
    """A thread that sends late must not crowd the next: the next send waits for the
    previous one's ``sent`` and then a whole delay from that moment."""
    host = _Host("http://127.0.0.1:1", delay=0.2)
    first_sent = host.pace()  # the first request: nothing to wait for
    returned = threading.Event()
    second = threading.Thread(target=lambda: (host.pace()(), returned.set()), daemon=True)
    second.start()
    assert not returned.wait(0.5), "the second send went ahead while the first had not gone out"
    went_out = time.monotonic()
    first_sent()
    assert returned.wait(5.0)
    assert time.monotonic() - went_out >= 0.2 - 0.005
    first_sent()  # idempotent: a second call must not release the lock the second send took


def test_robots_disallow_and_crawl_delay(hosts_factory):
    hosts = hosts_factory(1, latency=0.0, robots=b"User-agent: *\nDisallow: /p1\nCrawl-delay: 0.3\n")
    cfg = FetchConfig(allow_private_hosts=True, per_host_delay=0.0)
    out = fetch_politely(PoliteClient(cfg), [FetchRequest(i, u) for i, u in enumerate(hosts.urls(3))])
    errors = {o.url.rsplit("/", 1)[-1]: type(o.error).__name__ for o in out if o.error}
    assert errors == {"p1": "RobotsDisallowed"}
    starts = sorted(t for t, path in hosts.log["127.0.0.1"])
    assert [p for _, p in sorted(hosts.log["127.0.0.1"])] == ["/robots.txt", "/p0", "/p2"]
    assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.3 - 0.01


def test_robots_server_error_disallows_everything(hosts_factory):
    hosts = hosts_factory(1, latency=0.0, robots=b"oops", robots_status=503)
    cfg = FetchConfig(allow_private_hosts=True, per_host_delay=0.0, max_retries=0)
    out = fetch_politely(PoliteClient(cfg), [FetchRequest(0, hosts.urls(1)[0])])
    assert isinstance(out[0].error, RobotsDisallowed)
    assert [p for _, p in hosts.log["127.0.0.1"]] == ["/robots.txt"]


def test_robots_is_cached_per_client(hosts_factory):
    hosts = hosts_factory(1, latency=0.0)
    client = PoliteClient(FetchConfig(allow_private_hosts=True, per_host_delay=0.0))
    urls = hosts.urls(2)
    fetch_politely(client, [FetchRequest(0, urls[0])])
    fetch_politely(client, [FetchRequest(0, urls[1])])
    assert [p for _, p in sorted(hosts.log["127.0.0.1"])] == ["/robots.txt", "/p0", "/p1"]


def _requests_seen(hosts: _Hosts) -> int:
    return sum(1 for entries in hosts.log.values() for _, path in entries if path != "/robots.txt")


def test_stream_yields_outcomes_while_the_rest_are_still_being_fetched(hosts_factory):
    hosts = hosts_factory(1, latency=0.0)
    cfg = FetchConfig(allow_private_hosts=True, per_host_delay=0.05, per_host_concurrency=1, fetch_threads=4)
    stream = stream_politely(PoliteClient(cfg), [FetchRequest(i, u) for i, u in enumerate(hosts.urls(20))])
    first = next(stream)
    assert first.response is not None
    # 20 requests 0.05 s apart take about a second; the first came long before the last was sent.
    assert _requests_seen(hosts) < 20
    rest = list(stream)
    assert sorted(o.key for o in [first, *rest]) == list(range(20))


def test_stream_holds_a_bounded_number_of_unconsumed_outcomes(hosts_factory):
    hosts = hosts_factory(1, latency=0.0)
    cfg = FetchConfig(allow_private_hosts=True, per_host_delay=0.0, per_host_concurrency=2, fetch_threads=2)
    stream = stream_politely(PoliteClient(cfg), [FetchRequest(i, u) for i, u in enumerate(hosts.urls(60))],
                             max_ready=3)
    next(stream)
    time.sleep(1.0)  # ample time to fetch all 60 from loopback, were nothing holding the fetcher back
    # taken (1) + waiting (3) + settled and blocked on the hand-over (1) + in flight (2), with slack
    assert _requests_seen(hosts) <= 1 + 3 + 1 + 2 + 2
    assert len([next(stream), *stream]) == 59


def test_closing_the_stream_stops_fetching(hosts_factory):
    hosts = hosts_factory(1, latency=0.0)
    cfg = FetchConfig(allow_private_hosts=True, per_host_delay=0.02, per_host_concurrency=1, fetch_threads=2)
    stream = stream_politely(PoliteClient(cfg), [FetchRequest(i, u) for i, u in enumerate(hosts.urls(100))])
    next(stream)
    stream.close()  # returns once the background dispatcher has stopped
    seen = _requests_seen(hosts)
    time.sleep(0.5)
    assert seen < 100 and _requests_seen(hosts) == seen


def test_host_of_is_the_origin():
    assert host_of("HTTP://Example.ORG:8080/a?b") == "http://example.org:8080"
    assert host_of("https://user:pw@example.org/x") == "https://example.org"
    assert host_of("http://[::1]:9/x") == "http://[::1]:9"
