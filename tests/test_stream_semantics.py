"""Streaming semantics with TestStream on Prism (the DirectRunner's streaming engine in Beam
2.77): the sink's windows and trigger, and the keyed state the stages keep in a stream
(seen URLs across windows, near-copies of earlier windows, expiry, seeding from OUT/state)."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from samples_util import article
from test_near_duplicates import SEED_000, SEED_002, copy_edit

from pipeline.graph import StreamEnds
from pipeline.stream import find_prism, prism_job_server
from schemas.elements import Article, FeedItem, SeenUrl
from transforms._http import FetchConfig
from transforms._keyed import KeyedMemory
from transforms._minhash import DedupConfig
from transforms._urls import canonical_url
from transforms.deduplicate import Deduplicate
from transforms.fetch_pages import FetchPages
from transforms.near_duplicates import entry_of

# The FnApiRunner rejects TestStream, and the bundle-based DirectRunner stalls for ever on
# the keyed near-duplicate index (its side inputs + stateful steps + CoGroupByKey; seen
# here): Prism runs TestStream with state, timers, side inputs and processing time.
STREAM_RUNNER = "PrismRunner"
PRISM = find_prism()
pytestmark = pytest.mark.skipif(PRISM is None, reason="needs the prism binary (make install builds it with Go)")
WINDOW = 10
DAY = 24 * 3600
PANE = {0: "EARLY", 1: "ON_TIME", 2: "LATE"}


@pytest.fixture(scope="module", autouse=True)
def prism_endpoint():
    """One Prism for the module, started as `newsbeam stream` starts it (and stopped here,
    not by Beam's atexit hook after pytest has closed its streams)."""
    global _ENDPOINT
    with prism_job_server(PRISM) as endpoint:
        _ENDPOINT = endpoint
        yield endpoint


_ENDPOINT = None


def stream_pipeline():
    return test_pipeline.TestPipeline(options=PipelineOptions(
        runner=STREAM_RUNNER, streaming=True, job_endpoint=_ENDPOINT, environment_type="LOOPBACK"))


def _panes(keyed, win=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
    _, values = keyed
    return int(win.start), PANE[pane.timing], sorted(values)


def test_sink_fires_early_on_time_and_late_and_drops_what_is_too_late():
    ends = StreamEnds(poll_interval=1, window=WINDOW, first_tick=0, max_polls=1, stop_marker=None, early_delay=5,
                      allowed_lateness=60)
    events = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([TimestampedValue("early", 1)])
        .advance_processing_time(6)  # the early trigger: rows out although the watermark lags
        .add_elements([TimestampedValue("on-time", 2)])
        .advance_watermark_to(WINDOW + 1)  # the window closes
        .add_elements([TimestampedValue("late", 3)])  # within allowed lateness: a pane of its own
        .advance_watermark_to(WINDOW + 120)  # past the window's end + allowed lateness
        .add_elements([TimestampedValue("too-late", 4)])
        .advance_watermark_to_infinity()
    )
    with stream_pipeline() as p:
        panes = (
            p | events
            | ends.sink_windows()
            | beam.WithKeys(lambda _: "k")
            | beam.GroupByKey()
            | beam.Map(_panes)
        )
        assert_that(panes, equal_to([(0, "EARLY", ["early"]), (0, "ON_TIME", ["on-time"]), (0, "LATE", ["late"])]))


def _item(site, path: str) -> FeedItem:
    link = site.url(path)
    return FeedItem(site.url("feed.xml"), link, canonical_url(link), None, "t", None, None, [], [])


IRANPRESS = "iranpress/2020/01/07/shamkhani-khamis-meeting.html"
OBSERVER = "observer/news/syrian-delegation-tehran.html"
TRAM = "iranpress/2020/01/08/tram-line-approved.html"


def test_a_url_taken_in_one_window_is_skipped_in_later_ones_and_seeds_are_honoured(sample_site):
    memory = KeyedMemory(WINDOW)
    ip, ob, tram = (_item(sample_site, p) for p in (IRANPRESS, OBSERVER, TRAM))
    events = (
        TestStream()
        .advance_watermark_to(0)
        .add_elements([TimestampedValue(ip, 1)])
        .advance_watermark_to(WINDOW + 1)
        .add_elements([TimestampedValue(ip, WINDOW + 2), TimestampedValue(ob, WINDOW + 2),
                       TimestampedValue(tram, WINDOW + 3)])
        .advance_watermark_to_infinity()
    )
    cfg = FetchConfig(allow_private_hosts=True, per_host_delay=0.0)
    with stream_pipeline() as p:
        seed = p | "Seed" >> beam.Create([SeenUrl(tram.canonical_url, "earlier-run-id")])
        items = p | events | beam.WindowInto(memory.windows())
        out = items | FetchPages(cfg, seed, memory=memory)
        assert_that(out["pages"] | "PageUrls" >> beam.Map(lambda page: page.item.link),
                    equal_to([ip.link, ob.link]), label="FetchedOnce")
        assert_that(out["seen"] | "SeenUrls" >> beam.Map(lambda item: item.link),
                    equal_to([ip.link, tram.link]), label="SkippedAsSeen")
        assert_that(out["failed"], equal_to([]), label="NoFailures")


def _at(value, ts):
    return TimestampedValue(value, ts)


ORIGINAL = article("http://a.example/original", SEED_000, "2020-01-07T10:00:00+00:00")
NEAR_COPY = article("http://b.example/copy", copy_edit(SEED_000, 0.03, 7), "2020-01-07T11:00:00+00:00")
OTHER = article("http://c.example/other", SEED_002, "2020-01-07T12:00:00+00:00")


def _expect_dedup(events, kept: list[str], copies: list[tuple], seed_articles=(), window_days: int = 30):
    """Runs Deduplicate in a stream over ``events``; asserts the kept ids and the
    (copy id, canonical id, method) rows."""
    cfg = DedupConfig(window_days=window_days)
    memory = KeyedMemory(WINDOW)
    with stream_pipeline() as p:
        seed = p | "Seed" >> beam.Create([entry_of(a, cfg) for a in seed_articles])
        out = p | events | beam.WindowInto(memory.windows()) | Deduplicate(cfg, seed, memory=memory)
        assert_that(out["articles"] | "KeptIds" >> beam.Map(lambda a: a.article_id), equal_to(kept), label="Kept")
        assert_that(out["duplicates"] | "DupIds" >> beam.Map(
            lambda d: (d.article_id, d.canonical_article_id, d.method)), equal_to(copies), label="Copies")


def _events(*batches: tuple[float, list[tuple[Article, float]]]) -> TestStream:
    """(watermark, [(article, timestamp), ...]) batches, then the watermark to infinity."""
    events = TestStream()
    for watermark, articles in batches:
        events = events.advance_watermark_to(watermark).add_elements([_at(a, t) for a, t in articles])
    return events.advance_watermark_to_infinity()


def test_a_near_copy_in_a_later_window_points_to_the_earlier_article():
    # Several windows later (an hour later, in spirit).
    _expect_dedup(_events((0, [(ORIGINAL, 1)]), (5 * WINDOW, [(NEAR_COPY, 5 * WINDOW + 1), (OTHER, 5 * WINDOW + 2)])),
                  kept=[ORIGINAL.article_id, OTHER.article_id],
                  copies=[(NEAR_COPY.article_id, ORIGINAL.article_id, "near_text")])


def test_the_same_article_fetched_again_later_is_a_url_duplicate():
    again = ORIGINAL._replace(url="http://a.example/original?utm_source=x", item_url=None)
    _expect_dedup(_events((0, [(ORIGINAL, 1)]), (3 * WINDOW, [(again, 3 * WINDOW + 1)])),
                  kept=[ORIGINAL.article_id], copies=[(ORIGINAL.article_id, ORIGINAL.article_id, "url")])


def test_an_expired_index_entry_is_forgotten():
    # Past a one-day retention: the timer clears it (and a pair that far apart never matches).
    _expect_dedup(_events((0, [(ORIGINAL, 1)]), (2 * DAY, [(NEAR_COPY, 2 * DAY + 1)])), window_days=1,
                  kept=[ORIGINAL.article_id, NEAR_COPY.article_id], copies=[])


def test_the_index_seeded_from_out_state_is_honoured():
    _expect_dedup(_events((0, [(NEAR_COPY, 1), (OTHER, 2)])), seed_articles=[ORIGINAL],
                  kept=[OTHER.article_id], copies=[(NEAR_COPY.article_id, ORIGINAL.article_id, "near_text")])


def test_copies_within_one_window_are_left_to_the_batch_rule():
    # Same window: the batch canonical rule (earliest published) decides, not arrival order.
    _expect_dedup(_events((0, [(NEAR_COPY, 1), (ORIGINAL, 2)])),
                  kept=[ORIGINAL.article_id], copies=[(NEAR_COPY.article_id, ORIGINAL.article_id, "near_text")])


@pytest.mark.parametrize("interval", [0, -1])
def test_poll_ticks_reject_a_non_positive_interval(interval):
    from transforms.poll_ticks import PollTicks

    with pytest.raises(ValueError, match="poll interval"):
        PollTicks(interval)


@pytest.mark.parametrize("lateness, balanced", [(60, True), (0, False)])
def test_late_outcomes_get_a_window_record_of_their_own(tmp_path, lateness, balanced):
    """An article that reaches the records after its window closed (but within the sink's
    allowed lateness) is counted in a late record: the stream's records add up to what it
    took in. Without the lateness it is dropped and the stream's balance falls short."""
    from transforms.window_records import RecordWindows, read_window_records, stream_balance

    events = (  # one TestStream (Prism runs one per pipeline): ("items" | "articles", n)
        TestStream()
        .advance_watermark_to(0)
        .add_elements([TimestampedValue(("items", 1), 1), TimestampedValue(("items", 2), 2),
                       TimestampedValue(("articles", 1), 1)])
        .advance_watermark_to(WINDOW + 1)  # the window closes: its record is written
        .add_elements([TimestampedValue(("articles", 2), 2)])  # late, within the sink's lateness
        .advance_watermark_to_infinity()
    )
    with stream_pipeline() as p:
        tagged = p | events
        outcomes = {kind: tagged | f"Only{kind}" >> beam.Filter(lambda e, k=kind: e[0] == k)
                    for kind in ("items", "articles", "duplicates", "failures", "seen", "files")}
        outcomes | RecordWindows(str(tmp_path), "s1", beam.window.FixedWindows(WINDOW), allowed_lateness=lateness)
    records = read_window_records(str(tmp_path), "s1")
    assert [r["counts"] for r in records][0] == {"items_in": 2, "articles": 1}  # on time: one article short
    assert stream_balance(records)["balanced"] is balanced
    if balanced:
        assert [(r["pane"], r["counts"]) for r in records[1:]] == [(1, {"articles": 1})]
        assert records[1]["run_id"].endswith("-late1")
