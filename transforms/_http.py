"""A small, defensive HTTP GET shared by FetchFeeds and FetchPages.

``requests`` does the HTTP; this module adds what a crawler needs on top of it and that
``requests`` does not do: a scheme allow-list, a private-address guard applied to the
first URL and to every redirect target, a body cap enforced while streaming, a total
deadline (so a server that drips bytes is cut off), and typed errors whose class names
become the ``error`` column of ``failures/``.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from typing import NamedTuple, Optional
from urllib.parse import urljoin, urlsplit

import requests

DEFAULT_USER_AGENT = "newsbeam/0.1 (+https://github.com/newsbeam/newsbeam; news ingestion)"
ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024


class FetchError(Exception):
    """Base of every fetch failure; ``status`` is the HTTP status when there was one."""

    status: Optional[int] = None


class HttpError(FetchError):
    def __init__(self, status: int, url: str):
        super().__init__(f"HTTP {status} for {url}")
        self.status = status


class UnsupportedScheme(FetchError):
    pass


class BlockedAddress(FetchError):
    pass


class BodyTooLarge(FetchError):
    pass


class TooManyRedirects(FetchError):
    pass


class FetchTimeout(FetchError):
    pass


class ConnectionFailed(FetchError):
    pass


class HttpResponse(NamedTuple):
    final_url: str
    status: int
    content_type: Optional[str]
    body: bytes


class FetchConfig(NamedTuple):
    """Args:
    timeout: seconds for connect and for each read, and the cap on a whole request.
    max_bytes: bodies larger than this are refused while streaming.
    user_agent: sent with every request.
    allow_private_hosts: lift the private/loopback/link-local guard (demo and tests).
    """

    timeout: float = 15.0
    max_bytes: int = 5 * 1024 * 1024
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_hosts: bool = False


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


def http_get(url: str, cfg: FetchConfig, session: requests.Session) -> HttpResponse:
    """GETs ``url`` following up to MAX_REDIRECTS redirects, each re-checked by the guard."""
    deadline = time.monotonic() + cfg.timeout
    seen: set[str] = set()
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        check_target(current, cfg.allow_private_hosts)
        seen.add(current)
        try:
            resp = session.get(
                current,
                headers={"User-Agent": cfg.user_agent},
                timeout=(cfg.timeout, cfg.timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout as exc:
            raise FetchTimeout(f"timed out fetching {current}") from exc
        except requests.RequestException as exc:
            raise ConnectionFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc
        with resp:
            if resp.is_redirect:
                target = urljoin(current, resp.headers.get("Location", ""))
                if target in seen:
                    raise TooManyRedirects(f"redirect loop at {target}")
                current = target
                continue
            if resp.status_code >= 400:
                raise HttpError(resp.status_code, current)
            body = _read_capped(resp, cfg.max_bytes, deadline, current)
            return HttpResponse(current, resp.status_code, resp.headers.get("Content-Type"), body)
    raise TooManyRedirects(f"more than {MAX_REDIRECTS} redirects from {url}")


def _read_capped(resp: requests.Response, max_bytes: int, deadline: float, url: str) -> bytes:
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"Content-Length {declared} > {max_bytes} bytes: {url}")
    chunks, size = [], 0
    try:
        for chunk in resp.iter_content(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge(f"body over {max_bytes} bytes: {url}")
            if time.monotonic() > deadline:
                raise FetchTimeout(f"body not complete within the deadline: {url}")
            chunks.append(chunk)
    except requests.RequestException as exc:
        if isinstance(exc, (requests.Timeout, requests.exceptions.ConnectionError)):
            raise FetchTimeout(f"read failed for {url}: {type(exc).__name__}") from exc
        raise ConnectionFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc
    return b"".join(chunks)
