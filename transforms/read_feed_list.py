"""ReadFeedList: a feed-list file -> FeedSource; bad entries -> Failure(stage="feed_list").

Formats, told apart by extension (else by the first bytes):

- plain text (``.txt``): one URL per line; ``#`` at a line start or after whitespace
  starts a comment;
- OPML (``.opml``/``.xml``), what every feed reader exports; nested outlines are walked
  by ``listparser``; the outline title becomes the feed name, its categories the tags;
- YAML (``.yaml``/``.yml``) with per-feed options::

      feeds:
        - https://example.org/rss.xml              # a bare URL is fine
        - url: https://example.com/atom.xml
          name: Example World                       # source name when the page has none
          tags: [world, wire]
          language: en                              # used when a page declares no language
          enabled: false                            # listed but not fetched

Entries that are not http(s) URLs and repeats of a feed already listed become warning
rows (``NotAFeedUrl``, ``DuplicateFeed``), never a fatal error; disabled feeds are counted.
The file is read through Beam's ``FileSystems``, so ``gs://`` and ``s3://`` lists work.

    newsbeam run --feeds samples/feeds.opml --output /tmp/out
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator, NamedTuple, Optional
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from schemas.elements import UNIT_FEED, WARNING, Failure, FeedSource
from transforms._timing import timed

__all__ = ["ReadFeedList", "parse_feed_list"]

STAGE = "feed_list"


class _Entry(NamedTuple):
    url: str
    name: Optional[str] = None
    tags: tuple = ()
    language: Optional[str] = None
    enabled: bool = True


def _is_feed_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _text_entries(text: str) -> Iterator[_Entry]:
    for line in text.splitlines():
        # A URL may contain '#', so only a line start or whitespace before '#' opens a comment.
        entry = line.strip()
        if entry.startswith("#"):
            continue
        entry = entry.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if entry:
            yield _Entry(entry)


def _opml_entries(text: str) -> Iterator[_Entry]:
    import listparser

    parsed = listparser.parse(text)
    if parsed.bozo and not parsed.feeds:
        raise ValueError(f"unreadable OPML: {parsed.bozo_exception}")
    for feed in parsed.feeds:
        tags = tuple(t for path in feed.get("categories", []) for t in path)
        yield _Entry(feed.url, feed.get("title") or None, tags)


def _yaml_entries(text: str) -> Iterator[_Entry]:
    import yaml

    doc: Any = yaml.safe_load(text) or []
    items = doc.get("feeds", []) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise ValueError("a YAML feed list is a list of feeds, or a mapping with a 'feeds' list")
    for item in items:
        if isinstance(item, str):
            yield _Entry(item)
        elif isinstance(item, dict) and isinstance(item.get("url"), str):
            _check_types(item)
            tags = item.get("tags") or ()
            yield _Entry(item["url"].strip(), item.get("name"),
                         tuple(str(t) for t in (tags if isinstance(tags, list) else [tags])),
                         item.get("language"), item.get("enabled", True))
        else:
            yield _Entry(repr(item)[:200])  # reported as NotAFeedUrl


# A YAML feed's fields and the types they must have: a value of another type is an error
# (``enabled: "false"`` is a string, and a string is not false), never a guess.
_FIELD_TYPES = {"url": (str,), "name": (str,), "language": (str,), "enabled": (bool,), "tags": (list, str)}


def _check_types(item: dict) -> None:
    for key, value in item.items():
        if key not in _FIELD_TYPES:
            raise ValueError(f"feed {item['url']!r}: unknown field {key!r} (fields: {', '.join(_FIELD_TYPES)})")
        if value is not None and not isinstance(value, _FIELD_TYPES[key]):
            kinds = " or ".join({"str": "text", "bool": "true/false", "list": "a list"}[t.__name__]
                                for t in _FIELD_TYPES[key])
            raise ValueError(f"feed {item['url']!r}: {key} must be {kinds}, not {value!r}")


def detect_format(path: str, head: bytes) -> str:
    lowered = path.lower()
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    if lowered.endswith((".opml", ".xml")) or b"<opml" in head[:2048].lower():
        return "opml"
    return "text"


def parse_feed_list(text: str, fmt: str) -> tuple[list[FeedSource], list[tuple[str, str]], int]:
    """Returns (unique enabled feeds in file order, [(entry, reason)] rejected, disabled count)."""
    entries = {"text": _text_entries, "opml": _opml_entries, "yaml": _yaml_entries}[fmt](text)
    feeds: list[FeedSource] = []
    rejected: list[tuple[str, str]] = []
    seen: set[str] = set()
    disabled = 0
    for entry in entries:
        if not _is_feed_url(entry.url):
            rejected.append((entry.url, "NotAFeedUrl"))
        elif entry.url in seen:
            rejected.append((entry.url, "DuplicateFeed"))
        elif not entry.enabled:
            seen.add(entry.url)
            disabled += 1
        else:
            seen.add(entry.url)
            feeds.append(FeedSource(entry.url, entry.name, list(entry.tags), entry.language))
    return feeds, rejected, disabled


class _ReadFeedListFn(beam.DoFn):
    FAILED = "failed"

    def __init__(self, tolerate_read_errors: bool = False) -> None:
        self._tolerate = tolerate_read_errors
        self._unreadable = Metrics.counter(STAGE, "unreadable")
        self._emitted = Metrics.counter(STAGE, "emitted")
        self._rejected = Metrics.counter(STAGE, "rejected")
        self._disabled = Metrics.counter(STAGE, "disabled")

    @timed(STAGE)
    def process(self, source: tuple[str, Optional[bytes]]) -> Iterable[FeedSource]:
        path, raw = source
        if raw is None:
            try:
                with FileSystems.open(path) as handle:
                    raw = handle.read()
            except Exception as exc:
                if not self._tolerate:
                    raise
                # A stream keeps polling with the list it had: one row per unreadable poll.
                self._unreadable.inc()
                yield beam.pvalue.TaggedOutput(
                    self.FAILED, Failure.of(STAGE, path, exc, detail=f"feed list unreadable at this poll: {exc}",
                                            unit=UNIT_FEED))
                return
        try:
            feeds, rejected, disabled = parse_feed_list(
                raw.decode("utf-8", errors="replace"), detect_format(path, raw))
        except Exception as exc:  # YAML, OPML and field-type errors (a run checked them before it started)
            if not self._tolerate:
                raise
            self._unreadable.inc()  # a stream keeps the feeds it polls; the list is read again next poll
            yield beam.pvalue.TaggedOutput(
                self.FAILED, Failure.of(STAGE, path, exc, detail=f"feed list invalid at this poll: {exc}",
                                        unit=UNIT_FEED))
            return
        self._disabled.inc(disabled)
        for entry, reason in rejected:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(
                self.FAILED,
                Failure.of(STAGE, entry, reason, detail=f"in {path}", severity=WARNING, unit=UNIT_FEED),
            )
        for feed in feeds:
            self._emitted.inc()
            yield feed


def _local_bytes(path: str) -> Optional[bytes]:
    """The content of a local feed list (None for a URL or a missing file)."""
    if "://" in path or not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        return handle.read()


class ReadFeedList(beam.PTransform):
    """Reads the feed list at ``path``; outputs ``feeds`` (FeedSource) and ``failed`` (Failure).

    Applied to the pipeline's start, it reads the list once (a batch run). Applied to a
    PCollection of ticks (``transforms.poll_ticks``), it reads the list again at every
    tick, so edits take effect at the next poll; a list unreadable at a tick is a failure
    row for that poll, not the end of the stream.

    Args:
        path: a local path or any Beam filesystem URL of a text, OPML or YAML feed list. A
            local file is read when the pipeline is built for a batch run, so remote workers
            (Dataflow, Flink, Spark) need no copy of it; a URL (gs://, s3://), or any path in
            a stream, is read by a worker.
    """

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def expand(self, start):
        if isinstance(start, beam.pvalue.PBegin):
            paths = start | "FeedListPath" >> beam.Create([(self._path, _local_bytes(self._path))])
            read = _ReadFeedListFn()
        else:
            paths = start | "FeedListPathAtTick" >> beam.Map(lambda _tick, path: (path, None), self._path)
            read = _ReadFeedListFn(tolerate_read_errors=True)
        return paths | "ParseFeedList" >> beam.ParDo(read).with_outputs(_ReadFeedListFn.FAILED, main="feeds")
