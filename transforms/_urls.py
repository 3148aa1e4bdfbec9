"""URL helpers: canonical form (via courlan) and the stable article id derived from it."""

from __future__ import annotations

import hashlib

import courlan


def canonical_url(url: str) -> str:
    """Lower-cased host, no fragment, no tracking parameters (utm_*, fbclid, gclid, ...).

    Falls back to the URL as given when courlan cannot parse it; the fetch stage then
    reports the URL itself as the problem.
    """
    try:
        return courlan.normalize_url(url, strict=True)
    except (ValueError, TypeError, AttributeError):
        return url


def article_id(canonical: str) -> str:
    """A stable id for an article: 16 bytes of SHA-256 of its canonical URL, hex."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
