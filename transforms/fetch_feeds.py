"""FetchFeeds: FeedSource -> FetchedFeed (+ FeedValidators for the next run);
failures -> Failure(stage="feed_fetch").

Feeds are fetched politely (``transforms._polite``: per-host limits, retries with
backoff, Retry-After) with a conditional GET: the ETag and Last-Modified stored by the
previous run (``OUT/state/feeds/``) go out as If-None-Match / If-Modified-Since, and a
``304 Not Modified`` ends the feed there (counted as ``not_modified``: no parse, no
work). robots.txt is not consulted for feeds, as feed readers do not: a feed is
published to be polled.

In a stream (``memory`` given) the validators are keyed state instead: the feeds of one
host in one window are fetched together by a stateful DoFn keyed by host, which sends
the validators it holds (seeded from ``OUT/state/feeds/``) and keeps the new ones, so
every poll is a conditional GET. A stream gives each poll a window of its own, so a host's
feeds are grouped per poll; should a runner's windows hold several polls, a feed is still
fetched once per window (``polls_merged_in_window``).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from schemas.elements import UNIT_FEED, Failure, FeedSource, FeedValidators, FetchedFeed
from schemas.timeutil import utc_now_iso
from transforms import _progress as progress
from transforms._http import FetchConfig
from transforms._keyed import STR_KEYED, KeyedMemory, back_into, into_global
from transforms._polite import FetchOutcome, FetchRequest, PoliteFetch, _PoliteFetchFn, host_of

__all__ = ["FetchFeeds", "conditional_headers"]

STAGE = "feed_fetch"
FAILED = "failed"
VALIDATORS = "validators"


def conditional_headers(validators: Optional[FeedValidators]) -> dict:
    headers = {}
    if validators and validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators and validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    return headers


def _latest(validators: Iterable[FeedValidators]) -> Optional[FeedValidators]:
    return max(validators, key=lambda v: v.checked_at, default=None)


def _join(keyed: tuple[str, dict]) -> Iterator[tuple[FeedSource, Optional[FeedValidators]]]:
    _, groups = keyed
    latest = _latest(groups["state"])
    for source in groups["feeds"]:
        yield source, latest


def _to_request(pair: tuple[FeedSource, Optional[FeedValidators]]) -> FetchRequest:
    source, validators = pair
    return FetchRequest(None, source.url, conditional_headers(validators))


def _handle(pair: tuple[FeedSource, Optional[FeedValidators]], outcome: FetchOutcome) -> Iterator:
    source, previous = pair
    progress.counter(STAGE, "received").inc()
    if outcome.error is not None:
        Metrics.counter(STAGE, "failed").inc()
        yield beam.pvalue.TaggedOutput(
            FAILED, Failure.of(STAGE, source.url, outcome.error, feed_url=source.url, unit=UNIT_FEED,
                               detail=f"{outcome.error} (after {outcome.attempts} attempts)"))
        return
    resp = outcome.response
    if resp.status == 304:
        Metrics.counter(STAGE, "not_modified").inc()
        return
    etag, modified = resp.header("ETag"), resp.header("Last-Modified")
    if etag or modified:
        yield beam.pvalue.TaggedOutput(VALIDATORS, FeedValidators(source.url, etag, modified, utc_now_iso()))
    Metrics.counter(STAGE, "emitted").inc()
    Metrics.distribution(STAGE, "body_bytes").update(len(resp.body))
    yield FetchedFeed(source.url, resp.final_url, resp.body, resp.content_type, resp.status, source)


class _PollHostFn(_PoliteFetchFn):
    """Stream: (host, its feeds of one window) -> the batch outputs; validators in keyed state."""

    KNOWN = ReadModifyWriteStateSpec("validators", PickleCoder())

    def setup(self) -> None:
        super().setup()
        self._merged_polls = Metrics.counter(STAGE, "polls_merged_in_window")

    def process(self, keyed: tuple[str, tuple[str, Any]], known_state=beam.DoFn.StateParam(KNOWN)) -> Iterator:
        _, (kind, value) = keyed
        known: dict = known_state.read() or {}
        if kind == "seed":  # from OUT/state; a poll of this stream may already know better
            if value.feed_url not in known or known[value.feed_url].checked_at < value.checked_at:
                known[value.feed_url] = value
                known_state.write(known)
            return
        self._hosts.inc()
        # Polls that fell in one window are one poll: each feed is fetched once per window.
        latest = {s.url: s for s in value}
        self._merged_polls.inc(len(value) - len(latest))
        pairs = [(s, known.get(url)) for url, s in sorted(latest.items())]
        for out in self.fetch(pairs):
            if isinstance(out, beam.pvalue.TaggedOutput) and out.tag == VALIDATORS:
                known[out.value.feed_url] = out.value
            yield out
        known_state.write(known)


class FetchFeeds(beam.PTransform):
    """Fetches feeds, conditionally.

    Input: FeedSource, joined by URL with the stored FeedValidators (``validators``).
    Outputs ``feeds`` (FetchedFeed), ``validators`` (FeedValidators to store) and
    ``failed`` (Failure).

    Args:
        cfg: timeouts, size cap, User-Agent, guard, politeness and retries.
        validators: PCollection of FeedValidators from earlier runs (may be empty).
        warc: (directory, run id) to archive responses to, or None.
        memory: for a stream, keep the validators in keyed state (``validators`` then only
            seeds it); None for a batch run.
    """

    def __init__(self, cfg: FetchConfig, validators, warc: Optional[tuple[str, str]] = None,
                 memory: Optional[KeyedMemory] = None):
        super().__init__()
        self._warc = warc
        self._cfg = cfg._replace(respect_robots=False)
        self._validators = validators
        self._memory = memory

    def expand(self, feeds):
        if self._memory is not None:
            return self._expand_keyed(feeds)
        joined = (
            {
                "feeds": feeds | "KeyFeedsByUrl" >> beam.WithKeys(lambda s: s.url),
                "state": self._validators | "KeyStateByUrl" >> beam.WithKeys(lambda v: v.feed_url),
            }
            | "JoinValidators" >> beam.CoGroupByKey()
            | "WithValidators" >> beam.FlatMap(_join)
        )
        out = joined | "FetchFeed" >> PoliteFetch(
            self._cfg, STAGE, _to_request, _handle, (FAILED, VALIDATORS), warc=self._warc)
        return {"feeds": out.main, "validators": out[VALIDATORS], "failed": out[FAILED]}

    def _expand_keyed(self, feeds):
        # Seeds enter as elements (not a side input: see transforms.keyed_index).
        seeds = self._validators | "SeedByHost" >> beam.Map(lambda v: (host_of(v.feed_url), ("seed", v)))
        polls = (
            feeds
            | "KeyByHost" >> beam.WithKeys(lambda s: host_of(s.url))
            | "GroupByHost" >> beam.GroupByKey()
            | "AsPoll" >> beam.MapTuple(lambda host, sources: (host, ("poll", list(sources))))
        )
        polled = (
            (into_global(polls, "Poll"), seeds)
            | "SeedsAndPolls" >> beam.Flatten()
            | "ConditionalPoll" >> beam.ParDo(
                _PollHostFn(self._cfg, STAGE, _to_request, _handle, self._warc)).with_input_types(
                STR_KEYED).with_outputs(FAILED, VALIDATORS, main="feeds")
        )
        return {name: back_into(polled[name], self._memory, name.capitalize())
                for name in ("feeds", VALIDATORS, FAILED)}
