"""A small, defensive HTTP client shared by FetchFeeds and FetchPages.

``requests``/``urllib3`` do the HTTP; this module adds what a crawler needs on top and
they do not do: a scheme allow-list; a private-address guard applied to the URL, to every
redirect target and to the address the socket actually connected to (so DNS rebinding
cannot slip through between the check and the connect); a body cap enforced on the
decoded bytes while streaming (so a gzip bomb is cut off too); a total deadline per
request, headers and body (so a server that drips bytes is cut off); and typed errors whose class names
become the ``error`` column of ``failures/``. One call is one attempt: retries and
politeness live in ``transforms._polite``.
"""

from __future__ import annotations

import email.utils
import ipaddress
import socket
import threading
import time
from typing import Callable, Mapping, NamedTuple, Optional
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

DEFAULT_USER_AGENT = "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam; news ingestion)"
ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024


class FetchError(Exception):
    """Base of every fetch failure; ``status`` is the HTTP status when there was one."""

    status: Optional[int] = None
    retryable = False
    retry_after: Optional[float] = None


class HttpError(FetchError):
    def __init__(self, status: int, url: str, retry_after: Optional[float] = None):
        super().__init__(f"HTTP {status} for {url}")
        self.status = status
        self.retry_after = retry_after
        # 429 and 5xx are worth another try; other 4xx never are.
        self.retryable = status == 429 or status >= 500


class UnsupportedScheme(FetchError):
    pass


class BlockedAddress(FetchError):
    pass


class BodyTooLarge(FetchError):
    pass


class TooManyRedirects(FetchError):
    pass


class FetchTimeout(FetchError):
    retryable = True


class ConnectionFailed(FetchError):
    retryable = True


class HttpResponse(NamedTuple):
    final_url: str
    status: int
    content_type: Optional[str]
    body: bytes
    headers: Mapping[str, str] = {}

    def header(self, name: str) -> Optional[str]:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


class FetchConfig(NamedTuple):
    """How to fetch: limits, identity, guard, politeness and retries.

    Args:
        timeout: seconds for connect, for each read, and the cap on a whole request.
        max_bytes: decoded bodies larger than this are refused while streaming.
        user_agent: sent with every request (and matched against robots.txt).
        allow_private_hosts: lift the private/loopback/link-local guard (demo and tests).
        per_host_concurrency: most requests in flight to one host at once.
        per_host_delay: least seconds between the starts of two requests to one host.
        max_retries: further attempts after a timeout, connection error, 429 or 5xx.
        backoff_base: first retry waits about this long, doubling each time, with jitter.
        max_retry_after: a longer Retry-After is not waited for (the URL fails instead).
        respect_robots: fetch robots.txt per host and drop disallowed URLs.
        fetch_threads: requests in flight per worker, across hosts.
    """

    timeout: float = 15.0
    max_bytes: int = 5 * 1024 * 1024
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_hosts: bool = False
    per_host_concurrency: int = 2
    per_host_delay: float = 1.0
    max_retries: int = 3
    backoff_base: float = 0.5
    max_retry_after: float = 120.0
    respect_robots: bool = True
    fetch_threads: int = 32


def is_public_address(address: str) -> bool:
    """True only for globally routable unicast addresses (no private, loopback, link-local,
    multicast, reserved or unspecified ones, IPv4-mapped IPv6 included)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def check_target(url: str, allow_private_hosts: bool) -> None:
    """Raises unless ``url`` is http(s) and (when guarded) every address it resolves to is public."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise UnsupportedScheme(f"scheme {parts.scheme or '(none)'!r} not allowed: {url}")
    if not parts.hostname:
        raise UnsupportedScheme(f"no host in {url}")
    if allow_private_hosts:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ConnectionFailed(f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        address = info[4][0]
        if not is_public_address(address):
            raise BlockedAddress(f"{parts.hostname} resolves to non-public address {address}")


def _guarded_socket(sock: socket.socket, host: str) -> socket.socket:
    peer = sock.getpeername()[0]
    if not is_public_address(peer):
        sock.close()
        raise BlockedAddress(f"{host} connected to non-public address {peer}")
    return sock


# The socket a thread is waiting on for a response's status line and headers, so that the
# request's deadline watchdog (another thread) can cut it: a server dripping header bytes
# keeps every single read inside its own timeout, forever.
_waiting = threading.local()


class _Watched:
    """Exposes the socket during ``getresponse`` to the thread's watchdog box, if any."""

    def getresponse(self, *args, **kwargs):
        box = getattr(_waiting, "box", None)
        if box is not None:
            sent = box.get("sent")
            if sent is not None:  # the request's bytes are with the kernel now
                sent()
            box["sock"] = self.sock
            if box.get("expired"):
                _shutdown(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _GuardedHTTPConnection(_Watched, HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _guarded_socket(super()._new_conn(), self.host)


class _GuardedHTTPSConnection(_Watched, HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _guarded_socket(super()._new_conn(), self.host)


def _pools(http_cls, https_cls) -> dict:
    return {"http": type("Pool", (HTTPConnectionPool,), {"ConnectionCls": http_cls}),
            "https": type("Pool", (HTTPSConnectionPool,), {"ConnectionCls": https_cls})}


class _WatchedAdapter(HTTPAdapter):
    """Connections whose header wait the request deadline can cut."""

    POOLS = _pools(_WatchedHTTPConnection, _WatchedHTTPSConnection)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self.POOLS)


class _GuardedAdapter(_WatchedAdapter):
    """Also checks the peer address of every new connection, after DNS, before any byte is sent."""

    POOLS = _pools(_GuardedHTTPConnection, _GuardedHTTPSConnection)


def make_session(cfg: FetchConfig, pool_maxsize: int = 10) -> requests.Session:
    """A pooled session; with the guard on, every connection's peer address is checked."""
    session = requests.Session()
    adapter_cls = _WatchedAdapter if cfg.allow_private_hosts else _GuardedAdapter
    adapter = adapter_cls(pool_connections=64, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": cfg.user_agent, "Accept-Encoding": "gzip, deflate"})
    return session


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def http_get(url: str, cfg: FetchConfig, session: requests.Session,
             headers: Optional[Mapping[str, str]] = None,
             before_send: Optional[Callable[[], Callable[[], None]]] = None) -> HttpResponse:
    """One GET of ``url`` following up to MAX_REDIRECTS redirects, each re-checked by the guard.

    A 304 is returned like a 200 (the caller sent the validators); 4xx/5xx raise HttpError.
    ``before_send`` (the polite fetcher's pacing) is called right before the first request
    is sent and returns a callable, called once that request has gone out (when its
    response is awaited, or when it failed before that).
    """
    deadline = time.monotonic() + cfg.timeout
    seen: set[str] = set()
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        check_target(current, cfg.allow_private_hosts)
        seen.add(current)
        # One watchdog per attempt cuts the socket at the deadline, whether the thread is
        # waiting for headers or for body bytes: a server dripping bytes keeps every single
        # read inside its own timeout.
        box: dict = {}
        if before_send is not None and current == url:
            box["sent"] = before_send()
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _expire, args=(box,))
        watchdog.daemon = True
        try:
            watchdog.start()
            with _send(session, current, cfg, headers, box) as resp:
                if resp.is_redirect:
                    target = urljoin(current, resp.headers.get("Location", ""))
                    if target in seen:
                        raise TooManyRedirects(f"redirect loop at {target}")
                    current = target
                    continue
                if resp.status_code >= 400:
                    raise HttpError(resp.status_code, current, parse_retry_after(resp.headers.get("Retry-After")))
                body = b"" if resp.status_code == 304 else _read_body(resp, cfg.max_bytes, deadline, current)
                return HttpResponse(current, resp.status_code, resp.headers.get("Content-Type"), body,
                                    dict(resp.headers))
        finally:
            watchdog.cancel()
            if "sent" in box:
                box["sent"]()  # idempotent: only does something if the request failed unsent
    raise TooManyRedirects(f"more than {MAX_REDIRECTS} redirects from {url}")


def _send(session: requests.Session, url: str, cfg: FetchConfig, headers: Optional[Mapping[str, str]],
          box: dict) -> requests.Response:
    """The GET up to the response headers, with ``box`` telling the watchdog what to cut."""
    _waiting.box = box
    try:
        resp = session.get(url, headers={"User-Agent": cfg.user_agent, **(headers or {})},
                           timeout=(cfg.timeout, cfg.timeout), allow_redirects=False, stream=True)
    except requests.Timeout as exc:
        raise FetchTimeout(f"timed out fetching {url}") from exc
    except requests.RequestException as exc:
        if box.get("expired"):
            raise FetchTimeout(f"no complete response headers within the deadline: {url}") from exc
        raise ConnectionFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc
    finally:
        _waiting.box = None
    box["resp"] = resp
    if box.get("expired"):  # the cut socket may read as a short, complete response
        resp.close()
        raise FetchTimeout(f"no complete response headers within the deadline: {url}")
    return resp


def _shutdown(sock: Optional[socket.socket]) -> None:
    """Shuts a socket from another thread, waking a blocked read."""
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _expire(box: dict) -> None:
    """The deadline passed: cut the socket waited on for headers (watched sessions) or body."""
    box["expired"] = True
    _shutdown(box.get("sock"))
    resp = box.get("resp")
    if resp is not None:
        _shutdown(getattr(getattr(resp.raw, "connection", None), "sock", None))


def _read_body(resp: requests.Response, max_bytes: int, deadline: float, url: str) -> bytes:
    """Reads the body; a read the watchdog cut at the deadline is a FetchTimeout."""
    try:
        return _read_capped(resp, max_bytes, deadline, url)
    except FetchError:
        if time.monotonic() >= deadline:
            raise FetchTimeout(f"body not complete within the deadline: {url}") from None
        raise


def _read_capped(resp: requests.Response, max_bytes: int, deadline: float, url: str) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"Content-Length {declared} > {max_bytes} bytes: {url}")
    chunks, size = [], 0
    try:
        # iter_content yields decoded bytes: the cap also bounds what a compressed body inflates to.
        for chunk in resp.iter_content(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge(f"body over {max_bytes} bytes (decoded): {url}")
            if time.monotonic() > deadline:
                raise FetchTimeout(f"body not complete within the deadline: {url}")
            chunks.append(chunk)
    except requests.RequestException as exc:
        if isinstance(exc, (requests.Timeout, requests.exceptions.ConnectionError)):
            raise FetchTimeout(f"read failed for {url}: {type(exc).__name__}") from exc
        raise ConnectionFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc
    return b"".join(chunks)
