"""URL helpers: canonical form (via courlan) and the stable article id derived from it."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

import courlan


def canonical_url(url: str) -> str:
    """The form two links to the same article share.

    courlan (non-strict: its strict mode also drops ordinary query parameters such as
    ``?story=123``, which would merge different articles) lower-cases scheme and host,
    drops default ports, removes tracking parameters (utm_*, fbclid, gclid, mc_eid, ...)
    and sorts the rest. On top: no fragment, and no trailing slash except on the root.
    Falls back to the URL as given when courlan cannot parse it; the fetch stage then
    reports the URL itself as the problem.
    """
    try:
        normalised = courlan.normalize_url(url, strict=False)
    except (ValueError, TypeError, AttributeError):
        return url
    parts = urlsplit(normalised)
    path = parts.path.rstrip("/") if len(parts.path) > 1 else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path or "/", parts.query, ""))


def article_id(canonical: str) -> str:
    """A stable id for an article: 16 bytes of SHA-256 of its canonical URL, hex."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
