"""Polite, concurrent fetching inside one worker: per-host limits, robots.txt, retries.

``fetch_politely(client, requests)`` runs a batch of requests (usually every request for
a set of hosts, grouped by host upstream so one host is served by one worker) on a
thread pool, under these rules:

- at most ``per_host_concurrency`` requests in flight to a host, and at least
  ``per_host_delay`` seconds (or the host's robots.txt Crawl-delay, if longer) between
  the starts of two requests to it, counted from the moment the earlier request's bytes
  went out (sends to one host are taken in turn, so a thread that sends late cannot
  crowd the next one) and across batches (a batch's first request to a host waits one
  delay, since an earlier batch may just have sent to it);
- robots.txt is fetched once per host per worker process (through the same limits) and parsed with
  protego; a disallowed URL is not fetched and comes back as ``RobotsDisallowed``.
  A robots.txt that is missing (4xx) allows everything; a server error (5xx) disallows
  everything for this run, as RFC 9309 asks; a host that cannot be reached at all is
  left to fail its page requests with the network error itself;
- timeouts, connection errors, 429 and 5xx are retried up to ``max_retries`` times with
  exponential backoff and full jitter; a ``Retry-After`` header holds the whole host
  for that long (up to ``max_retry_after``); other 4xx are never retried.

A dispatcher thread hands requests to the pool only when their host is free, so threads
never sleep waiting on a host: throughput is bounded by politeness and bandwidth.
``stream_politely`` yields the outcomes as they settle, with a bounded number waiting, so
a batch's response bodies are never all in memory at once.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Hashable, Iterable, Iterator, NamedTuple, Optional
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from transforms._files import crash_point
from transforms._http import (
    FetchConfig,
    FetchError,
    HttpError,
    HttpResponse,
    http_get,
    make_session,
)
from transforms._timing import busy_counter, timed_outputs


class RobotsDisallowed(FetchError):
    pass


class FetchRequest(NamedTuple):
    key: Hashable
    url: str
    headers: dict = {}


class FetchOutcome(NamedTuple):
    key: Hashable
    url: str
    response: Optional[HttpResponse]
    error: Optional[FetchError]
    attempts: int


def host_of(url: str) -> str:
    """The origin a URL belongs to (``scheme://host[:port]``): the unit of politeness."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1].lower()
    return f"{parts.scheme.lower()}://{netloc}"


class PoliteClient:
    """A session plus the per-run robots cache; shared by every fetch in one process."""

    def __init__(self, cfg: FetchConfig):
        self.cfg = cfg
        self.session = make_session(cfg, pool_maxsize=max(2, cfg.per_host_concurrency + 1))
        self._robots: dict[str, Any] = {}
        self._lock = threading.Lock()

    def robots_for(self, host: str) -> Optional[Any]:
        with self._lock:
            return self._robots.get(host, _UNKNOWN)

    def set_robots(self, host: str, robots: Any) -> None:
        with self._lock:
            self._robots[host] = robots

    def get(self, url: str, headers: Optional[dict] = None,
            before_send: Optional[Callable[[], Callable[[], None]]] = None) -> HttpResponse:
        return http_get(url, self.cfg, self.session, headers, before_send)


_UNKNOWN = object()
_DISALLOW_ALL = "disallow-all"


def _load_robots(client: PoliteClient, host: str,
                 before_send: Optional[Callable[[], Callable[[], None]]] = None) -> Any:
    """Fetches and parses ``host``/robots.txt: a Protego parser, None (allow all) or _DISALLOW_ALL."""
    from protego import Protego

    try:
        resp = client.get(f"{host}/robots.txt", before_send=before_send)
    except HttpError as exc:
        # RFC 9309: a missing robots.txt (4xx) allows everything; a server error disallows.
        return None if exc.status and 400 <= exc.status < 500 else _DISALLOW_ALL
    except FetchError:
        # Unreachable, refused or blocked: the page requests fail with that same, clearer reason.
        return None
    return Protego.parse(resp.body.decode("utf-8", errors="replace"))


class _Host:
    __slots__ = ("name", "queue", "in_flight", "next_start", "delay", "robots_pending", "_sent_lock", "_last_sent")

    def __init__(self, name: str, delay: float):
        self.name = name
        self.queue: deque = deque()
        self.in_flight = 0
        self.next_start = 0.0
        self.delay = delay
        self.robots_pending = False
        self._sent_lock = threading.Lock()
        self._last_sent: Optional[float] = None

    def pace(self) -> Callable[[], None]:
        """Called by a pool thread right before its request to this host is sent: waits until
        ``delay`` has passed since the previous request to this host *went out*, and returns
        ``sent``, to be called once this one has gone out.

        The dispatcher schedules starts ``delay`` apart, but a thread can send well after its
        start on a busy interpreter (the GIL: extraction runs in the caller's thread, 30-odd
        fetch threads come back from I/O): a loopback server saw 142 ms between two requests
        under a 250 ms delay, with 100 hosts on 2 workers. So sends to one host are taken in
        turn: this host's lock is held from here until ``sent`` (the request's bytes are with
        the kernel, see ``transforms._http``), and the next send waits from that moment.
        Only the sending is in turn; the requests' responses still overlap.
        """
        self._sent_lock.acquire()
        try:
            if self._last_sent is not None and self.delay > 0:
                wait_for = self._last_sent + self.delay - time.monotonic()
                if wait_for > 0:
                    time.sleep(wait_for)
        except BaseException:
            self._sent_lock.release()
            raise
        done = []

        def sent() -> None:
            if not done:
                done.append(True)
                self._last_sent = time.monotonic()
                self._sent_lock.release()

        return sent

    def can_start(self, now: float, concurrency: int) -> bool:
        if not self.queue or self.in_flight >= concurrency or now < self.next_start:
            return False
        is_robots = self.queue[0][0] is None
        return is_robots or not self.robots_pending


def fetch_politely(client: PoliteClient, requests: list[FetchRequest]) -> list[FetchOutcome]:
    """Fetches every request under the per-host rules; one outcome per request, any order."""
    return list(stream_politely(client, requests))


def stream_politely(client: PoliteClient, requests: list[FetchRequest],
                    max_ready: int = 32) -> Iterator[FetchOutcome]:
    """``fetch_politely``, yielding each outcome as soon as it is settled.

    The fetching goes on in a background thread while the caller works on what it got
    (extracts a page, say); when ``max_ready`` outcomes wait unconsumed, no new request
    starts until the caller takes one. So at most ``max_ready`` + ``fetch_threads``
    response bodies are held at a time, however many requests the batch has.
    """
    ready: queue.Queue = queue.Queue(maxsize=max(1, max_ready))
    stop = threading.Event()

    def hand_over(item: Any) -> None:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def dispatch() -> None:
        try:
            _dispatch(client, requests, hand_over, stop)
        except BaseException as exc:  # raised again in the caller's thread
            hand_over(_Raised(exc))
        hand_over(_END)

    thread = threading.Thread(target=dispatch, name="fetch-dispatch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:  # the caller stopped early (or failed): stop starting requests, wait for those in flight
        stop.set()
        thread.join()


class _Raised(NamedTuple):
    exc: BaseException


_END = object()


def _dispatch(client: PoliteClient, requests: list[FetchRequest], hand_over: Callable[[FetchOutcome], None],
              stop: threading.Event) -> None:
    """The dispatcher: starts requests when their host is free, hands each settled outcome over."""
    cfg = client.cfg
    hosts: dict[str, _Host] = {}
    for req in requests:
        name = host_of(req.url)
        hosts.setdefault(name, _Host(name, cfg.per_host_delay)).queue.append((req, 1))
    # This batch cannot know when another batch, stage or worker last sent to a host (the
    # feed stage and the page stage are different batches, often in different processes),
    # only that it was before this batch began: so a host's first request here waits one
    # delay too. Without this a loopback server saw 130 ms between a host's last feed
    # request and its first page request under a 250 ms delay.
    began = time.monotonic()
    for host in hosts.values():
        host.next_start = began + host.delay
    outcomes: list[FetchOutcome] = []
    for name, host in hosts.items():
        if not cfg.respect_robots:
            continue
        cached = client.robots_for(name)
        if cached is _UNKNOWN:
            host.robots_pending = True
            host.queue.appendleft((None, 1))  # the robots.txt request goes first
        else:
            _apply_robots(host, cached, cfg, outcomes)

    running: dict[Future, tuple[_Host, Optional[FetchRequest], int]] = {}
    active = [h for h in hosts.values() if h.queue]
    with ThreadPoolExecutor(max_workers=max(1, cfg.fetch_threads), thread_name_prefix="fetch") as pool:
        while (active or running) and not stop.is_set():
            for outcome in outcomes:
                hand_over(outcome)
            outcomes.clear()
            now = time.monotonic()
            for host in active:
                while len(running) < cfg.fetch_threads and host.can_start(now, cfg.per_host_concurrency):
                    req, attempt = host.queue.popleft()
                    host.in_flight += 1
                    host.next_start = now + host.delay
                    if req is None:
                        future = pool.submit(_load_robots, client, host.name, host.pace)
                    else:
                        future = pool.submit(client.get, req.url, req.headers, host.pace)
                    running[future] = (host, req, attempt)
            waits = [h.next_start - now for h in active
                     if h.queue and h.in_flight < cfg.per_host_concurrency and h.next_start > now]
            timeout = max(0.0, min(waits)) if waits else None
            if not running:
                time.sleep(timeout or 0.0)
            else:
                done, _ = wait(list(running), timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    host, req, attempt = running.pop(future)
                    host.in_flight -= 1
                    if req is None:
                        robots = future.result()
                        client.set_robots(host.name, robots)
                        host.robots_pending = False
                        _apply_robots(host, robots, cfg, outcomes)
                    else:
                        _settle(host, req, attempt, future, cfg, outcomes)
            # Recomputed from every host: a retry can refill a queue that had emptied.
            active = [h for h in hosts.values() if h.queue]
        pool.shutdown(wait=True, cancel_futures=True)
    for outcome in outcomes:
        hand_over(outcome)


def _apply_robots(host: _Host, robots: Any, cfg: FetchConfig, outcomes: list[FetchOutcome]) -> None:
    """Resolves disallowed requests at once and adopts a longer Crawl-delay."""
    if robots is None:
        return
    kept: deque = deque()
    for req, attempt in host.queue:
        if req is None:
            kept.append((req, attempt))
            continue
        allowed = False if robots == _DISALLOW_ALL else robots.can_fetch(req.url, cfg.user_agent)
        if allowed:
            kept.append((req, attempt))
        else:
            reason = "robots.txt unavailable" if robots == _DISALLOW_ALL else "disallowed by robots.txt"
            outcomes.append(FetchOutcome(req.key, req.url, None, RobotsDisallowed(f"{reason}: {req.url}"), 0))
    host.queue = kept
    if robots != _DISALLOW_ALL:
        crawl_delay = robots.crawl_delay(cfg.user_agent)
        if crawl_delay and float(crawl_delay) > host.delay:
            new_delay = min(float(crawl_delay), 60.0)
            # The robots.txt request itself started the host's clock.
            host.next_start += new_delay - host.delay
            host.delay = new_delay


def _settle(host: _Host, req: FetchRequest, attempt: int, future: Future, cfg: FetchConfig,
            outcomes: list[FetchOutcome]) -> None:
    try:
        outcomes.append(FetchOutcome(req.key, req.url, future.result(), None, attempt))
        return
    except FetchError as exc:
        error = exc
    except Exception as exc:  # a bug or an exotic library error must not lose the URL
        error = FetchError(f"{type(exc).__name__}: {exc}"[:300])
    wait_for = error.retry_after
    if error.retryable and attempt <= cfg.max_retries and (wait_for is None or wait_for <= cfg.max_retry_after):
        backoff = random.uniform(0, cfg.backoff_base * 2 ** (attempt - 1))  # full jitter
        host.next_start = max(host.next_start, time.monotonic() + max(backoff, wait_for or 0.0))
        host.queue.appendleft((req, attempt + 1))
        return
    outcomes.append(FetchOutcome(req.key, req.url, None, error, attempt))


# Responses archived per WARC file (--warc_output): bounds what a fetch batch holds for it.
WARC_RECORDS_PER_FILE = 100


class _PoliteFetchFn(beam.DoFn):
    """A batch of host groups -> whatever ``handle(element, outcome)`` yields for each element."""

    def __init__(self, cfg: FetchConfig, stage: str, to_request: Callable[[Any], FetchRequest],
                 handle: Callable[[Any, FetchOutcome], Iterable[Any]], warc: Optional[tuple[str, str]]):
        self._cfg = cfg
        self._warc = warc
        self._stage = stage
        self._to_request = to_request
        self._handle = handle
        self._shared = shared.Shared()
        self._attempts = Metrics.counter(stage, "http_attempts")
        self._retried = Metrics.counter(stage, "retried")
        self._hosts = Metrics.counter(stage, "hosts")
        self._busy = busy_counter(stage)

    def setup(self) -> None:
        # One client (session, robots cache) per process, shared by this DoFn's threads.
        self._client = self._shared.acquire(lambda: PoliteClient(self._cfg), tag=repr(self._cfg))

    def process(self, batch: list[tuple[str, Iterable[Any]]]) -> Iterator[Any]:
        self._hosts.inc(len(batch))
        yield from self.fetch([element for _, group in batch for element in group])

    def fetch(self, elements: list[Any]) -> Iterator[Any]:
        """Fetches the elements' requests politely; yields what ``handle`` makes of each, as
        each settles (so what follows in the fused stage, extraction, works while the rest
        are fetched, and the batch's pages are never all held at once)."""
        return timed_outputs(self._busy, self._fetch(elements))

    def _fetch(self, elements: list[Any]) -> Iterator[Any]:
        requests = []
        for index, element in enumerate(elements):
            req = self._to_request(element)
            requests.append(req._replace(key=index))
        crash_point("fetch")
        archive: list[tuple[Any, Any]] = []
        for outcome in stream_politely(self._client, requests):
            self._attempts.inc(outcome.attempts)
            if outcome.attempts > 1:
                self._retried.inc(outcome.attempts - 1)
            if self._warc and outcome.response is not None and outcome.response.status == 200:
                archive.append((outcome.response, elements[outcome.key]))
                if len(archive) >= WARC_RECORDS_PER_FILE:
                    self._archive(archive)
            yield from self._handle(elements[outcome.key], outcome)
        self._archive(archive)

    def _archive(self, records: list[tuple[Any, Any]]) -> None:
        """Writes ``records`` (response, element) to one new WARC file, then forgets them."""
        if not records:
            return
        from transforms.warc import write_warc

        warc_dir, run_id = self._warc
        Metrics.counter(self._stage, "warc_records").inc(write_warc(warc_dir, run_id, records))
        records.clear()


class PoliteFetch(beam.PTransform):
    """Fetches elements politely: grouped by host (so a host is served by one worker at a
    time), host groups batched, each batch fetched by ``fetch_politely``.

    Args:
        cfg: the fetch configuration (limits, politeness, retries).
        stage: metrics namespace.
        to_request: element -> FetchRequest (URL and headers; the key is ignored).
        handle: (element, FetchOutcome) -> outputs (main values or TaggedOutputs).
        tags: the tagged outputs ``handle`` may emit.
        hosts_per_batch: host groups fetched together by one worker.
        warc: (directory, run id) to archive every 200 response to, or None.
    """

    def __init__(self, cfg: FetchConfig, stage: str, to_request, handle, tags: tuple[str, ...],
                 hosts_per_batch: int = 256, warc: Optional[tuple[str, str]] = None):
        super().__init__()
        self._warc = warc
        self._cfg = cfg
        self._stage = stage
        self._to_request = to_request
        self._handle = handle
        self._tags = tags
        self._hosts_per_batch = hosts_per_batch

    def expand(self, elements):
        to_request = self._to_request
        return (
            elements
            | "KeyByHost" >> beam.WithKeys(lambda element: host_of(to_request(element).url))
            | "GroupByHost" >> beam.GroupByKey()
            | "BatchHosts" >> beam.BatchElements(min_batch_size=self._hosts_per_batch,
                                                 max_batch_size=self._hosts_per_batch)
            | "FetchBatch" >> beam.ParDo(
                _PoliteFetchFn(self._cfg, self._stage, to_request, self._handle, self._warc)
            ).with_outputs(*self._tags, main="main")
        )
