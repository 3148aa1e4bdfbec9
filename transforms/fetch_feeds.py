"""FetchFeeds: feed URL (str) -> FetchedFeed; failures -> Failure(stage="feed_fetch").

One GET per feed with the shared defensive client (``transforms._http``): timeout, body
cap, newsbeam User-Agent, http(s) only, private addresses refused unless allowed. The
feed URLs are reshuffled first so a long list spreads over workers instead of staying
fused to the single element that read the list.
"""

from __future__ import annotations

from typing import Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import UNIT_FEED, Failure, FetchedFeed
from transforms._http import FetchConfig, FetchError, http_get

__all__ = ["FetchFeeds"]

STAGE = "feed_fetch"


class _FetchFeedFn(beam.DoFn):
    FAILED = "failed"

    def __init__(self, cfg: FetchConfig):
        self._cfg = cfg
        self._received = Metrics.counter(STAGE, "received")
        self._emitted = Metrics.counter(STAGE, "emitted")
        self._failed = Metrics.counter(STAGE, "failed")
        self._bytes = Metrics.distribution(STAGE, "body_bytes")

    def setup(self) -> None:
        import requests

        self._session = requests.Session()

    def teardown(self) -> None:
        self._session.close()

    def process(self, feed_url: str) -> Iterator[FetchedFeed]:
        self._received.inc()
        try:
            resp = http_get(feed_url, self._cfg, self._session)
        except FetchError as exc:
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(
                self.FAILED, Failure.of(STAGE, feed_url, exc, feed_url=feed_url, unit=UNIT_FEED)
            )
            return
        self._emitted.inc()
        self._bytes.update(len(resp.body))
        yield FetchedFeed(feed_url, resp.final_url, resp.body, resp.content_type, resp.status)


class FetchFeeds(beam.PTransform):
    """Fetches feeds; outputs ``feeds`` (FetchedFeed) and ``failed`` (Failure).

    Args:
        cfg: timeouts, size cap, User-Agent and the private-address switch.
    """

    def __init__(self, cfg: FetchConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, feed_urls):
        return (
            feed_urls
            | "SpreadFeeds" >> beam.Reshuffle()
            | "FetchFeed"
            >> beam.ParDo(_FetchFeedFn(self._cfg)).with_outputs(_FetchFeedFn.FAILED, main="feeds")
        )
