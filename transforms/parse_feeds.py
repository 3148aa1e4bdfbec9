"""ParseFeeds: FetchedFeed -> FeedItem; problems -> Failure(stage="feed_parse").

feedparser reads RSS 0.9x/1.0/2.0 and Atom. A feed it flags as ill-formed ("bozo") but
still recovers entries from keeps every entry and gets a warning row; a feed that yields
no entries because it is broken gets an error row. An entry without a usable link cannot
be fetched and becomes an item-level error row, so it is still accounted for.

A feed that declares a general XML entity whose value refers to other entities (the
"billion laughs" expansion attack) or that points outside the document (``SYSTEM`` /
``PUBLIC``: external-entity attacks) is refused before parsing (``XmlEntityDeclaration``).
Plain text entities and parameter entities for standard DTDs, which real feeds use, pass.

Item fields: link (resolved against the feed's base), guid, title, summary, full content
(``content:encoded`` / Atom content), published and updated, authors, categories, and an
image from enclosures or Media RSS; plus the feed's name and language hint.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Any, Iterator, Optional
from urllib.parse import urljoin, urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import ERROR, UNIT_FEED, WARNING, Failure, FeedItem, FeedSource, FetchedFeed
from schemas.timeutil import sane_iso
from transforms import _progress as progress
from transforms._timing import timed
from transforms._urls import canonical_url

__all__ = ["ParseFeeds", "entry_to_item"]

STAGE = "feed_parse"


def _struct_to_iso(value: Any) -> Optional[str]:
    if not value:
        return None
    seconds = calendar.timegm(value)  # feedparser normalises to UTC struct_time
    return sane_iso(dt.datetime.fromtimestamp(seconds, dt.timezone.utc))


def _authors(entry: Any) -> list[str]:
    names = [a.get("name", "").strip() for a in entry.get("authors", []) if a.get("name")]
    if not names and entry.get("author"):
        names = [entry["author"].strip()]
    return [n for n in dict.fromkeys(names) if n]


# A general entity (not "<!ENTITY %") that nests entity references or is external.
_DANGEROUS_ENTITY = re.compile(
    rb"<!ENTITY\s+(?!%)[^\s>]+\s+(?:SYSTEM|PUBLIC|\"[^\"]*&(?!#)|'[^']*&(?!#))", re.IGNORECASE)


class XmlEntityDeclaration(Exception):
    pass


def _image(entry: Any, base_url: str) -> Optional[str]:
    candidates = [m.get("url") for m in entry.get("media_content", []) if m.get("medium", "image") == "image"
                  or str(m.get("type", "")).startswith("image/")]
    candidates += [m.get("url") for m in entry.get("media_thumbnail", [])]
    candidates += [link.get("href") for link in entry.get("links", [])
                   if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/")]
    url = next((c for c in candidates if c), None)
    return urljoin(base_url, url) if url else None


def _content(entry: Any) -> Optional[str]:
    parts = [c.get("value") for c in entry.get("content", []) if c.get("value")]
    return max(parts, key=len) if parts else None


def entry_to_item(entry: Any, feed_url: str, base_url: str, source: Optional[FeedSource] = None,
                  feed_language: Optional[str] = None) -> Optional[FeedItem]:
    """Turns one feedparser entry into a FeedItem; None when it has no http(s) link."""
    link = (entry.get("link") or "").strip()
    if not link and str(entry.get("guidislink", "")).lower() == "true":
        link = entry.get("id", "")
    if not link:
        return None
    link = urljoin(base_url, link)
    if urlsplit(link).scheme not in ("http", "https"):
        return None
    return FeedItem(
        feed_url=feed_url,
        link=link,
        canonical_url=canonical_url(link),
        guid=entry.get("id") or None,
        title=(entry.get("title") or "").strip() or None,
        summary=entry.get("summary") or None,
        published=_struct_to_iso(entry.get("published_parsed") or entry.get("updated_parsed")),
        authors=_authors(entry),
        categories=[t.get("term") for t in entry.get("tags", []) if t.get("term")],
        updated=_struct_to_iso(entry.get("updated_parsed")),
        content=_content(entry),
        image_url=_image(entry, base_url),
        feed_name=source.name if source else None,
        language_hint=(source.language if source and source.language else feed_language),
    )


class _ParseFeedFn(beam.DoFn):
    FAILED = "failed"

    def __init__(self) -> None:
        self._received = Metrics.counter(STAGE, "received")
        self._items = progress.counter(STAGE, "items")
        self._failed = Metrics.counter(STAGE, "failed")
        self._no_link = Metrics.counter(STAGE, "items_without_link")
        self._bozo = Metrics.counter(STAGE, "bozo_feeds")

    @timed(STAGE)
    def process(self, feed: FetchedFeed) -> Iterator[FeedItem]:
        import feedparser

        self._received.inc()
        if _DANGEROUS_ENTITY.search(feed.body[:65536]):
            self._failed.inc()
            refused = XmlEntityDeclaration("feed declares nested or external XML entities; refused unparsed")
            yield beam.pvalue.TaggedOutput(self.FAILED, Failure.of(
                STAGE, feed.feed_url, refused, feed_url=feed.feed_url, unit=UNIT_FEED))
            return
        headers = {"content-location": feed.final_url}
        if feed.content_type:
            headers["content-type"] = feed.content_type
        parsed = feedparser.parse(feed.body, response_headers=headers)
        entries = parsed.get("entries", [])
        language = (parsed.get("feed", {}).get("language") or "")[:2].lower() or None
        if parsed.get("bozo"):
            self._bozo.inc()
            exc = parsed.get("bozo_exception")
            failure = Failure.of(
                STAGE, feed.feed_url, exc if isinstance(exc, BaseException) else "IllFormedFeed",
                feed_url=feed.feed_url, unit=UNIT_FEED,
                detail=f"{'recovered ' + str(len(entries)) + ' entries; ' if entries else ''}{exc}",
                severity=WARNING if entries else ERROR,
            )
            if not entries:
                self._failed.inc()
            yield beam.pvalue.TaggedOutput(self.FAILED, failure)
        elif not entries:
            yield beam.pvalue.TaggedOutput(
                self.FAILED,
                Failure.of(STAGE, feed.feed_url, "EmptyFeed", feed_url=feed.feed_url,
                           detail="feed parsed but has no entries", severity=WARNING,
                           unit=UNIT_FEED),
            )
        for entry in entries:
            self._items.inc()
            item = entry_to_item(entry, feed.feed_url, feed.final_url, feed.source, language)
            if item is None:
                self._no_link.inc()
                yield beam.pvalue.TaggedOutput(
                    self.FAILED,
                    Failure.of(STAGE, entry.get("link") or entry.get("id") or entry.get("title"), "MissingLink",
                               feed_url=feed.feed_url, detail="entry has no http(s) link"),
                )
            else:
                yield item


class ParseFeeds(beam.PTransform):
    """Parses fetched feeds; outputs ``items`` (FeedItem) and ``failed`` (Failure)."""

    def expand(self, feeds):
        return feeds | "ParseFeed" >> beam.ParDo(_ParseFeedFn()).with_outputs(
            _ParseFeedFn.FAILED, main="items"
        )
