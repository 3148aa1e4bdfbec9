"""ReadFeedList: a feed-list file -> feed URLs; bad entries -> Failure(stage="feed_list").

Formats: plain text (one URL per line, ``#`` starts a comment) and OPML (what every feed
reader exports; nested outlines are walked by ``listparser``). The format is taken from
the extension (``.opml``/``.xml``) or, failing that, from the first bytes of the file.
The file is read through Beam's ``FileSystems``, so ``gs://`` and ``s3://`` lists work.

    newsbeam run --feeds samples/feeds.opml --output /tmp/out
"""

from __future__ import annotations

from typing import Iterable, Iterator
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from schemas.elements import UNIT_FEED, WARNING, Failure

__all__ = ["ReadFeedList", "parse_feed_list"]

STAGE = "feed_list"


def _is_feed_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _entries(text: str, is_opml: bool) -> Iterator[str]:
    if is_opml:
        import listparser

        parsed = listparser.parse(text)
        if parsed.bozo and not parsed.feeds:
            raise ValueError(f"unreadable OPML: {parsed.bozo_exception}")
        yield from (feed.url for feed in parsed.feeds)
        return
    for line in text.splitlines():
        # A URL may contain '#', so only a line start or whitespace before '#' opens a comment.
        entry = line.strip()
        if entry.startswith("#"):
            continue
        entry = entry.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if entry:
            yield entry


def parse_feed_list(text: str, is_opml: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """Returns (unique feed URLs in file order, [(entry, reason)] for rejected entries)."""
    urls: list[str] = []
    rejected: list[tuple[str, str]] = []
    seen: set[str] = set()
    for entry in _entries(text, is_opml):
        if not _is_feed_url(entry):
            rejected.append((entry, "NotAFeedUrl"))
        elif entry in seen:
            rejected.append((entry, "DuplicateFeed"))
        else:
            seen.add(entry)
            urls.append(entry)
    return urls, rejected


def _looks_like_opml(path: str, head: bytes) -> bool:
    return path.lower().endswith((".opml", ".xml")) or b"<opml" in head[:2048].lower()


class _ReadFeedListFn(beam.DoFn):
    FAILED = "failed"

    def __init__(self) -> None:
        self._emitted = Metrics.counter(STAGE, "emitted")
        self._rejected = Metrics.counter(STAGE, "rejected")

    def process(self, path: str) -> Iterable[str]:
        with FileSystems.open(path) as handle:
            raw = handle.read()
        urls, rejected = parse_feed_list(
            raw.decode("utf-8", errors="replace"), _looks_like_opml(path, raw)
        )
        for entry, reason in rejected:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(
                self.FAILED,
                Failure.of(STAGE, entry, reason, detail=f"in {path}", severity=WARNING,
                           unit=UNIT_FEED),
            )
        for url in urls:
            self._emitted.inc()
            yield url


class ReadFeedList(beam.PTransform):
    """Reads the feed list at ``path``; outputs ``feeds`` (str) and ``failed`` (Failure).

    Args:
        path: a local path or any Beam filesystem URL of a text or OPML feed list.
    """

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def expand(self, pbegin):
        return (
            pbegin
            | "FeedListPath" >> beam.Create([self._path])
            | "ParseFeedList"
            >> beam.ParDo(_ReadFeedListFn()).with_outputs(_ReadFeedListFn.FAILED, main="feeds")
        )
