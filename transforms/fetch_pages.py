"""FetchPages: FeedItem -> FetchedPage; same-URL repeats -> Duplicate(method="url");
failures -> Failure(stage="fetch").

Items are grouped by canonical URL first, so an article that several feeds (or one feed
twice, with different tracking parameters) point at is fetched once; the other items
become ``url`` duplicates of it. The grouping also redistributes the fetch fan-out over
workers. Pages that are not HTML are deliberate drops (reason ``not_html``).
"""

from __future__ import annotations

from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import DROP, Duplicate, Failure, FeedItem, FetchedPage
from schemas.timeutil import utc_now_iso
from transforms._http import FetchConfig, FetchError, http_get
from transforms._urls import article_id

__all__ = ["FetchPages"]

STAGE = "fetch"
HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain")


class _PickOnePerUrlFn(beam.DoFn):
    """Keeps the first item (by feed URL, then link) of each canonical URL."""

    DUPLICATES = "duplicates"

    def __init__(self) -> None:
        self._repeats = Metrics.counter(STAGE, "dropped_same_url")

    def process(self, keyed: tuple[str, Iterable[FeedItem]]) -> Iterator[FeedItem]:
        canonical, items = keyed
        first, *rest = sorted(items, key=lambda i: (i.feed_url, i.link, i.guid or ""))
        yield first
        for item in rest:
            self._repeats.inc()
            yield beam.pvalue.TaggedOutput(
                self.DUPLICATES,
                Duplicate(url=item.link, article_id=article_id(canonical),
                          canonical_article_id=article_id(canonical), method="url",
                          similarity=1.0, feed_url=item.feed_url, source=None,
                          title=item.title, published=item.published, fetched_at=None),
            )


class _FetchPageFn(beam.DoFn):
    FAILED = "failed"

    def __init__(self, cfg: FetchConfig):
        self._cfg = cfg
        self._received = Metrics.counter(STAGE, "received")
        self._emitted = Metrics.counter(STAGE, "emitted")
        self._failed = Metrics.counter(STAGE, "failed")
        self._not_html = Metrics.counter(STAGE, "dropped_not_html")
        self._bytes = Metrics.distribution(STAGE, "body_bytes")

    def setup(self) -> None:
        import requests

        self._session = requests.Session()

    def teardown(self) -> None:
        self._session.close()

    def process(self, item: FeedItem) -> Iterator[FetchedPage]:
        self._received.inc()
        try:
            resp = http_get(item.link, self._cfg, self._session)
        except FetchError as exc:
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(
                self.FAILED, Failure.of(STAGE, item.link, exc, feed_url=item.feed_url)
            )
            return
        media_type = (resp.content_type or "text/html").split(";", 1)[0].strip().lower()
        if media_type not in HTML_TYPES:
            self._not_html.inc()
            yield beam.pvalue.TaggedOutput(
                self.FAILED,
                Failure.of(STAGE, item.link, "not_html", feed_url=item.feed_url,
                           detail=f"Content-Type {resp.content_type}", http_status=resp.status,
                           severity=DROP),
            )
            return
        self._emitted.inc()
        self._bytes.update(len(resp.body))
        yield FetchedPage(item, resp.final_url, resp.body, resp.content_type, resp.status,
                          utc_now_iso())


class FetchPages(beam.PTransform):
    """Fetches each distinct article URL once.

    Outputs ``pages`` (FetchedPage), ``duplicates`` (Duplicate, method ``url``) and
    ``failed`` (Failure).

    Args:
        cfg: timeouts, size cap, User-Agent and the private-address switch.
    """

    def __init__(self, cfg: FetchConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, items):
        picked = (
            items
            | "KeyByCanonicalUrl" >> beam.WithKeys(lambda item: item.canonical_url)
            | "GroupByCanonicalUrl" >> beam.GroupByKey()
            | "PickOnePerUrl"
            >> beam.ParDo(_PickOnePerUrlFn()).with_outputs(
                _PickOnePerUrlFn.DUPLICATES, main="items"
            )
        )
        fetched = picked.items | "FetchPage" >> beam.ParDo(_FetchPageFn(self._cfg)).with_outputs(
            _FetchPageFn.FAILED, main="pages"
        )
        return {"pages": fetched.pages, "duplicates": picked.duplicates, "failed": fetched.failed}
