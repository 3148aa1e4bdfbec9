"""Assembles the newsbeam graph (no work at import time; see STYLE.md).

One graph, two ends. The stages in the middle (FetchFeeds, ParseFeeds, FetchPages,
ExtractArticles, Deduplicate, TagEntities) are the same transforms in both modes; only
three things differ:

=========  ======================================  =============================================
           batch (``newsbeam run``)                stream (``newsbeam stream``)
=========  ======================================  =============================================
source     the feed list, read once                PollTicks: the feed list re-read every poll;
                                                   the stages work in one window per poll
state      OUT/state files joined as PCollections  keyed state seeded from OUT/state (``memory``)
sink       one commit of every table per run       each --window of output: its panes and a record
=========  ======================================  =============================================
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Duration

from pipeline.commit import ListWrittenFiles, RecordCounts, staged_data_root
from pipeline.options import NewsOptions
from schemas.elements import UNIT_ITEM, Duplicate
from transforms._http import FetchConfig
from transforms._keyed import KeyedMemory
from transforms._minhash import DedupConfig
from transforms.assign_stories import AssignStories, StoryConfig
from transforms.deduplicate import Deduplicate, ResolveCanonicals
from transforms.embed_articles import SentenceEmbeddingHandler
from transforms.extract_articles import ExtractArticles
from transforms.fetch_feeds import FetchFeeds
from transforms.fetch_pages import FetchPages
from transforms.keyed_stories import AssignStoriesKeyed
from transforms.near_duplicates import within_window
from transforms.parse_feeds import ParseFeeds
from transforms.poll_ticks import PollTicks
from transforms.read_feed_list import ReadFeedList
from transforms.state import ReadState, SeenUrlsOf, WriteState
from transforms.tag_entities import SpacyModelHandler, TagEntities
from transforms.warc import ReadWarc
from transforms.window_records import RecordWindows
from transforms.write_dataset import WriteDataset

TABLES = ("articles", "duplicates", "failures", "stories")


class StreamEnds(NamedTuple):
    """What makes the graph a stream: its source, its keyed memory and its sink's trigger.

    The stages work in windows of one poll each, aligned to end just after their poll (so
    a poll's pages are fetched at once, not when a longer window closes); the sink cuts
    their output into windows of ``window`` seconds.

    Args:
        poll_interval: seconds between two polls of every feed.
        window: seconds of event time per output window.
        first_tick: the time of the first poll (epoch seconds).
        max_polls: polls before the stream ends by itself (None: until drained).
        stop_marker: the path whose existence drains the stream.
        seen_retention_days: how long a URL the stream ingested stays in keyed state.
        early_delay: seconds after a pane's first element at which its rows are written
            even if the watermark has not passed the window's end.
        allowed_lateness: seconds after the window's end during which late rows are still
            written (each in a pane of its own); later ones are dropped by Beam and counted.
    """

    poll_interval: float
    window: float
    first_tick: float
    max_polls: Optional[int]
    stop_marker: Optional[str]
    seen_retention_days: float = 90.0
    early_delay: Optional[float] = None
    allowed_lateness: float = 3600.0

    def memory(self) -> KeyedMemory:
        return KeyedMemory(self.poll_interval, self.seen_retention_days,
                           offset=(self.first_tick + 0.001) % self.poll_interval)

    def output_windows(self) -> window.FixedWindows:
        return window.FixedWindows(self.window)

    def sink_windows(self) -> beam.WindowInto:
        # Rows appear when the watermark passes the window's end, or `early_delay` seconds
        # after a pane's first row if the watermark lags; each late row gets a pane of its own.
        return beam.WindowInto(
            self.output_windows(),
            trigger=trigger.AfterWatermark(early=trigger.AfterProcessingTime(int(self.early_delay or self.window)),
                                           late=trigger.AfterCount(1)),
            accumulation_mode=trigger.AccumulationMode.DISCARDING,
            allowed_lateness=Duration(seconds=int(self.allowed_lateness)),
        )


def fetch_config(opts: NewsOptions) -> FetchConfig:
    return FetchConfig(
        timeout=opts.fetch_timeout,
        max_bytes=opts.max_body_bytes,
        user_agent=opts.http_user_agent,
        allow_private_hosts=opts.allow_private_hosts,
        per_host_concurrency=opts.per_host_concurrency,
        per_host_delay=opts.per_host_delay,
        max_retries=opts.max_retries,
        backoff_base=opts.backoff_base,
        max_retry_after=opts.max_retry_after,
        respect_robots=not opts.ignore_robots,
        fetch_threads=opts.fetch_threads,
    )


def _write_state(opts: NewsOptions, run_id: str, stream: Optional[StreamEnds], table: str) -> WriteState:
    """A batch run stages its state for the commit; a stream writes each window's state at once."""
    return WriteState(opts.output, run_id, table, staged=stream is None)


def _fetch_from_feeds(p: beam.Pipeline, opts: NewsOptions, run_id: str, stream: Optional[StreamEnds]):
    """Feed list -> feeds (conditional GET) -> items -> pages (not seen before, fetched politely)."""
    cfg = fetch_config(opts)
    memory = stream.memory() if stream else None
    warc = (opts.warc_output, run_id) if opts.warc_output else None
    validators = p | "ReadFeedState" >> ReadState(opts.output, "state_feeds")
    seen = p | "ReadSeenUrls" >> ReadState(opts.output, "state_seen")
    if stream is None:
        start = p
    else:
        start = (p | "PollTicks" >> PollTicks(stream.poll_interval, stream.max_polls, stream.stop_marker,
                                              start=stream.first_tick)
                 | "OneWindowPerPoll" >> beam.WindowInto(memory.windows()))
    feed_list = start | "ReadFeedList" >> ReadFeedList(opts.feeds)
    fetched = feed_list.feeds | "FetchFeeds" >> FetchFeeds(cfg, validators, warc=warc, memory=memory)
    parsed = fetched["feeds"] | "ParseFeeds" >> ParseFeeds()
    pages = parsed.items | "FetchPages" >> FetchPages(cfg, seen, refetch=opts.refetch, warc=warc, memory=memory)
    fetched["validators"] | "WriteFeedState" >> _write_state(opts, run_id, stream, "state_feeds")
    # The items taken in, as the balance counts them: every feed entry, the ones without a
    # link (failures of the parse, not items downstream) too.
    entries = (parsed.items, parsed.failed | "UnlinkedEntries" >> beam.Filter(lambda f: f.unit == UNIT_ITEM)) \
        | "Entries" >> beam.Flatten()
    return pages, entries, (feed_list.failed, fetched["failed"], parsed.failed)


def build(p: beam.Pipeline, opts: NewsOptions, run_id: str, stream: Optional[StreamEnds] = None):
    """Wires feeds -> items -> pages (or WARC -> pages) -> articles -> dedup -> entities ->
    dataset + state; a stream when ``stream`` is given.

    Returns the PCollection of ``(table, path, rows)`` files written.
    """
    if opts.warc_input:
        archived = p | "ReadWarc" >> ReadWarc(opts.warc_input)
        pages = {"pages": archived.pages, "failed": archived.failed,
                 "duplicates": p | "NoUrlRepeats" >> beam.Create([]).with_output_types(Duplicate),
                 "seen": p | "NoneSeen" >> beam.Create([])}
        items, front_failures = archived.pages, ()  # an archived page is an item
    else:
        pages, items, front_failures = _fetch_from_feeds(p, opts, run_id, stream)
    memory = stream.memory() if stream else None
    # Pages are extracted where they were fetched (the same fused stage), as each arrives:
    # raw HTML never crosses a shuffle, so no runner buffers a run's pages (memory that grew
    # with the run). Fetching is grouped by host, and host groups are spread over the
    # workers; entity tagging, most of the CPU, comes after the dedup shuffle and is spread
    # whatever the hosts.
    extracted = pages["pages"] | "ExtractArticles" >> ExtractArticles(opts.min_words, opts.index_line_ratio)
    near = None if opts.no_near_dedup else DedupConfig(threshold=opts.dedup_threshold,
                                                       window_days=opts.dedup_window_days)
    index = p | "ReadDedupIndex" >> ReadState(opts.output, "state_dedup")
    if stream is not None and near is not None:
        index = index | "SeedWithinWindow" >> beam.Filter(within_window, near.window_days)
    # A stream on Flink joins by key where other runs use side inputs (see transforms._joins:
    # Beam's Flink runner cannot checkpoint a Python stage that has a side input).
    runner = str(p.options.view_as(StandardOptions).runner or "").rsplit(".", 1)[-1]
    keyed_joins = stream is not None and runner in ("FlinkRunner", "PortableRunner")
    deduped = extracted.articles | "Deduplicate" >> Deduplicate(near, index, memory=memory, keyed_joins=keyed_joins)
    deduped["index"] | "WriteDedupIndex" >> _write_state(opts, run_id, stream, "state_dedup")
    tagged = deduped["articles"] | "TagEntities" >> TagEntities(
        SpacyModelHandler(opts.ner_model, batch_size=opts.ner_batch_size, chunk_chars=opts.ner_chunk_chars),
        keyed_joins=keyed_joins,
    )
    duplicates = (
        (pages["duplicates"], deduped["duplicates"])
        | "FlattenDuplicates" >> beam.Flatten()
        | "ResolveCanonicals" >> ResolveCanonicals(keyed_joins)
    )

    (
        (tagged["articles"], duplicates)
        | "SeenUrlsOf" >> SeenUrlsOf()
        | "WriteSeenUrls" >> _write_state(opts, run_id, stream, "state_seen")
    )
    # Stories: one ordered pass per run (batch), or per window on keyed state (stream).
    story_config = StoryConfig(threshold=opts.story_threshold, window_hours=opts.story_window_hours,
                               vector_threshold=opts.story_vector_threshold)
    embeddings = SentenceEmbeddingHandler() if opts.story_embeddings else None
    grouped = (
        {"kept": deduped["articles"], "articles": tagged["articles"], "duplicates": duplicates,
         "earlier": p | "ReadStoryIndex" >> ReadState(opts.output, "state_stories"),
         # the walls and too short texts a story may claim by their headline
         "headlines": extracted.headlines, "dropped": extracted.failed}
        | "AssignStories" >> (AssignStories(story_config, embeddings=embeddings) if stream is None else
                              AssignStoriesKeyed(story_config, memory, embeddings=embeddings))
    )
    grouped.pop("state") | "WriteStoryIndex" >> _write_state(opts, run_id, stream, "state_stories")
    failures = (
        *front_failures,
        pages["failed"],
        grouped.pop("dropped"),  # the extract stage's rows, a claimed drop's with its story_id
        tagged["failed"],
        grouped.pop("failed"),
    ) | "FlattenFailures" >> beam.Flatten()
    tables = {"failures": failures, **grouped}
    if stream is None:  # staged per bundle; the driver's commit makes them visible with the state
        written = tables | "WriteDataset" >> WriteDataset(staged_data_root(opts.output, run_id), run_id,
                                                          opts.max_rows_per_file, per_bundle=True)
        written | "ListWrittenFiles" >> ListWrittenFiles(opts.output, run_id)
        {**tables, "items": items, "seen": pages["seen"], "files": written} | "RecordCounts" >> RecordCounts(
            opts.output, run_id)
        return written
    written = (
        {name: tables[name] | f"Trigger{name.capitalize()}" >> stream.sink_windows() for name in TABLES}
        | "WriteDataset" >> WriteDataset(opts.output, run_id, opts.max_rows_per_file)
    )
    {**tables, "items": items, "seen": pages["seen"], "files": written} | "RecordWindows" >> RecordWindows(
        opts.output, run_id, stream.output_windows(), stream.allowed_lateness)
    return written
