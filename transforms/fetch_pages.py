"""FetchPages: FeedItem -> FetchedPage; same-URL repeats -> Duplicate(method="url");
drops and failures -> Failure(stage="fetch").

Items are grouped by canonical URL first (joined with the URLs earlier runs ingested,
``OUT/state/seen/``), so:

- an article that several feeds, or one feed twice with different tracking parameters,
  point at is fetched once; the other items become ``url`` duplicates of it;
- an item whose canonical URL was ingested in an earlier run is not fetched again
  (counted as ``dropped_seen``; ``--refetch`` turns this off).

The rest are fetched politely (``transforms._polite``): robots.txt per host (disallowed
URLs are drops with reason ``robots``), per-host concurrency and delay, retries with
backoff, Retry-After. A response that is not HTML by its Content-Type or its first bytes
(PDF, images, archives...) is a drop with reason ``not_html``.

In a stream (``memory`` given) the URLs already taken are keyed state, keyed by canonical
URL and seeded from ``OUT/state/seen/``: the first poll whose items name a URL takes it
(fetched once, whatever happens to it), later polls drop it as ``dropped_seen``; a URL
the stream took expires from that state ``seen_retention_days`` later (event time).
Items dropped as seen also leave on the ``seen`` output, so a stream's window can
account for them.
"""

from __future__ import annotations

from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.coders import BooleanCoder, PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from schemas.elements import DROP, Duplicate, Failure, FeedItem, FetchedPage, SeenUrl
from schemas.timeutil import utc_now_iso
from transforms import _progress as progress
from transforms._http import FetchConfig
from transforms._keyed import STR_KEYED, KeyedMemory, back_into, expiry, into_global
from transforms._polite import FetchOutcome, FetchRequest, PoliteFetch, RobotsDisallowed
from transforms._urls import article_id

__all__ = ["FetchPages", "looks_like_html"]

STAGE = "fetch"
FAILED = "failed"
DUPLICATES = "duplicates"
SEEN = "seen"
HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "")
# Magic numbers of formats that must never reach the HTML extractor.
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"PK\x03\x04", b"\x1f\x8b", b"RIFF",
                 b"\x00\x00\x00", b"OggS", b"\x7fELF", b"Rar!", b"7z\xbc\xaf")


def looks_like_html(content_type: str | None, body: bytes) -> bool:
    """HTML by its declared media type (or none) and not a known binary format by its bytes."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in HTML_TYPES:
        return False
    head = body[:16].lstrip()
    return not head.startswith(_BINARY_MAGIC) and b"\x00" not in body[:1024]


class _PickOnePerUrlFn(beam.DoFn):
    """Keeps the first item (by feed URL, then link) of each canonical URL not seen before."""

    def __init__(self, refetch: bool) -> None:
        self._refetch = refetch
        self._items = Metrics.counter(STAGE, "items")
        self._repeats = progress.counter(STAGE, "dropped_same_url")
        self._seen = Metrics.counter(STAGE, "dropped_seen")

    def process(self, keyed: tuple[str, dict]) -> Iterator[FeedItem]:
        canonical, groups = keyed
        items = sorted(groups["items"], key=lambda i: (i.feed_url, i.link, i.guid or ""))
        if not items:
            return
        self._items.inc(len(items))
        if groups["seen"] and not self._refetch:
            self._seen.inc(len(items))
            for item in items:
                yield beam.pvalue.TaggedOutput(SEEN, item)
            return
        first, *rest = items
        yield first
        for item in rest:
            self._repeats.inc()
            yield beam.pvalue.TaggedOutput(
                DUPLICATES,
                Duplicate(url=item.link, article_id=article_id(canonical),
                          canonical_article_id=article_id(canonical), method="url",
                          similarity=1.0, feed_url=item.feed_url, source=None,
                          title=item.title, published=item.published, fetched_at=None),
            )


class _RememberSeenFn(beam.DoFn):
    """Stream: (canonical URL, ("seed", None) | ("items", its items of one window)) -> the items,
    plus whether an earlier poll (or ``OUT/state/seen``) already took the URL, in the batch
    join's shape.

    A window's items wait (an event-time timer at their timestamp) until the watermark
    passes them: by then every seed row has arrived, whatever order the runner delivers
    seeds and items in, and earlier windows were decided first.
    """

    TAKEN = ReadModifyWriteStateSpec("taken", BooleanCoder())
    WAITING = BagStateSpec("waiting", PickleCoder())
    DECIDE_AT = ReadModifyWriteStateSpec("decide_at", PickleCoder())
    DECIDE = TimerSpec("decide", TimeDomain.WATERMARK)
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, retention_days: float):
        self._retention_days = retention_days
        self._expired = Metrics.counter(STAGE, "seen_expired")

    def process(self, keyed: tuple[str, tuple[str, Optional[list]]], timestamp=beam.DoFn.TimestampParam,
                taken=beam.DoFn.StateParam(TAKEN), waiting=beam.DoFn.StateParam(WAITING),
                decide_at=beam.DoFn.StateParam(DECIDE_AT), decide=beam.DoFn.TimerParam(DECIDE)) -> None:
        _, (kind, items) = keyed
        if kind == "seed":
            taken.write(True)
            return
        waiting.add((timestamp.micros, list(items)))
        current = decide_at.read()
        if current is None or timestamp < current:  # the earliest waiting window decides first
            decide_at.write(timestamp)
            decide.set(timestamp)

    @on_timer(DECIDE)
    def decide(self, key=beam.DoFn.KeyParam, taken=beam.DoFn.StateParam(TAKEN),
               waiting=beam.DoFn.StateParam(WAITING), decide_at=beam.DoFn.StateParam(DECIDE_AT),
               expire=beam.DoFn.TimerParam(EXPIRE)) -> Iterator:
        for micros, items in sorted(waiting.read(), key=lambda w: w[0]):
            seen_before = bool(taken.read())
            if not seen_before:
                taken.write(True)
                expire.set(expiry(Timestamp(micros=micros), self._retention_days))
            yield TimestampedValue((key, {"items": items, "seen": [True] if seen_before else []}),
                                   Timestamp(micros=micros))
        waiting.clear()
        decide_at.clear()

    @on_timer(EXPIRE)
    def forget(self, taken=beam.DoFn.StateParam(TAKEN)):
        self._expired.inc()
        taken.clear()


def _to_request(item: FeedItem) -> FetchRequest:
    return FetchRequest(None, item.link)


def _handle(item: FeedItem, outcome: FetchOutcome) -> Iterator:
    progress.counter(STAGE, "received").inc()
    if isinstance(outcome.error, RobotsDisallowed):
        Metrics.counter(STAGE, "dropped_robots").inc()
        yield beam.pvalue.TaggedOutput(
            FAILED, Failure.of(STAGE, item.link, "robots", feed_url=item.feed_url, detail=str(outcome.error),
                               severity=DROP))
        return
    if outcome.error is not None:
        Metrics.counter(STAGE, "failed").inc()
        detail = f"{outcome.error} (after {outcome.attempts} attempts)" if outcome.attempts > 1 else None
        yield beam.pvalue.TaggedOutput(
            FAILED, Failure.of(STAGE, item.link, outcome.error, feed_url=item.feed_url, detail=detail))
        return
    resp = outcome.response
    if not looks_like_html(resp.content_type, resp.body):
        Metrics.counter(STAGE, "dropped_not_html").inc()
        yield beam.pvalue.TaggedOutput(
            FAILED, Failure.of(STAGE, item.link, "not_html", feed_url=item.feed_url,
                               detail=f"Content-Type {resp.content_type!r}, starts {resp.body[:8]!r}",
                               http_status=resp.status, severity=DROP))
        return
    Metrics.counter(STAGE, "emitted").inc()
    Metrics.distribution(STAGE, "body_bytes").update(len(resp.body))
    yield FetchedPage(item, resp.final_url, resp.body, resp.content_type, resp.status, utc_now_iso())


class FetchPages(beam.PTransform):
    """Fetches each distinct, not yet ingested article URL once.

    Outputs ``pages`` (FetchedPage), ``duplicates`` (Duplicate, method ``url``) and
    ``failed`` (Failure).

    Args:
        cfg: timeouts, size cap, User-Agent, guard, politeness and retries.
        seen: PCollection of SeenUrl from earlier runs (may be empty).
        refetch: fetch seen URLs again.
        warc: (directory, run id) to archive responses to, or None.
        memory: for a stream, keep the URLs taken in keyed state (``seen`` then only seeds
            it); None for a batch run.
    """

    def __init__(self, cfg: FetchConfig, seen=None, refetch: bool = False,
                 warc: Optional[tuple[str, str]] = None, memory: Optional[KeyedMemory] = None):
        super().__init__()
        self._warc = warc
        self._cfg = cfg
        self._seen = seen
        self._refetch = refetch
        self._memory = memory

    def _with_seen(self, items):
        """(canonical URL, {"items": [...], "seen": [...]}) per canonical URL (and window)."""
        seen = self._seen
        if seen is None:
            seen = items.pipeline | "NoSeenUrls" >> beam.Create([]).with_output_types(SeenUrl)
        keyed = items | "KeyByCanonicalUrl" >> beam.WithKeys(lambda item: item.canonical_url)
        if self._memory is None:
            return (
                {"items": keyed, "seen": seen | "KeySeenByUrl" >> beam.WithKeys(lambda s: s.canonical_url)}
                | "GroupByCanonicalUrl" >> beam.CoGroupByKey()
            )
        # Seeds enter as elements (not a side input: see transforms.keyed_index).
        seeds = seen | "SeedSeenUrls" >> beam.Map(lambda s: (s.canonical_url, ("seed", None)))
        windows = keyed | "GroupByCanonicalUrl" >> beam.GroupByKey() | "AsItems" >> beam.MapTuple(
            lambda url, items: (url, ("items", list(items))))
        remembered = (
            (into_global(windows, "Seen"), seeds)
            | "SeedsAndItems" >> beam.Flatten()
            | "RememberSeen" >> beam.ParDo(_RememberSeenFn(self._memory.seen_retention_days)).with_input_types(
                STR_KEYED)
        )
        return back_into(remembered, self._memory, "Seen")

    def expand(self, items):
        picked = self._with_seen(items) | "PickOnePerUrl" >> beam.ParDo(
            _PickOnePerUrlFn(self._refetch)).with_outputs(DUPLICATES, SEEN, main="items")
        fetched = picked.items | "FetchPage" >> PoliteFetch(
            self._cfg, STAGE, _to_request, _handle, (FAILED,), warc=self._warc)
        # Not reshuffled: the pages are extracted in this fused stage as they arrive (raw HTML
        # crossing a shuffle is what made memory grow with the run); host groups are spread
        # over the workers, and the stages after extraction are keyed afresh.
        return {"pages": fetched.main, "duplicates": picked[DUPLICATES], "failed": fetched[FAILED],
                "seen": picked[SEEN]}


