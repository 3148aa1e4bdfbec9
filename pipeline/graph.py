"""Assembles the newsbeam graph (no work at import time; see STYLE.md)."""

from __future__ import annotations

import apache_beam as beam

from pipeline.options import NewsOptions
from schemas.elements import Duplicate
from transforms._http import FetchConfig
from transforms._minhash import DedupConfig
from transforms.deduplicate import Deduplicate, ResolveCanonicals
from transforms.extract_articles import ExtractArticles
from transforms.fetch_feeds import FetchFeeds
from transforms.fetch_pages import FetchPages
from transforms.parse_feeds import ParseFeeds
from transforms.read_feed_list import ReadFeedList
from transforms.state import ReadState, SeenUrlsOf, WriteState
from transforms.tag_entities import SpacyModelHandler, TagEntities
from transforms.warc import ReadWarc
from transforms.write_dataset import WriteDataset


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


def _fetch_from_feeds(p: beam.Pipeline, opts: NewsOptions, run_id: str) -> tuple[dict, tuple]:
    """Feed list -> feeds (conditional GET) -> items -> pages (not seen before, fetched politely)."""
    cfg = fetch_config(opts)
    warc = (opts.warc_output, run_id) if opts.warc_output else None
    validators = p | "ReadFeedState" >> ReadState(opts.output, "state_feeds")
    seen = p | "ReadSeenUrls" >> ReadState(opts.output, "state_seen")
    feed_list = p | "ReadFeedList" >> ReadFeedList(opts.feeds)
    fetched = feed_list.feeds | "FetchFeeds" >> FetchFeeds(cfg, validators, warc=warc)
    parsed = fetched["feeds"] | "ParseFeeds" >> ParseFeeds()
    pages = parsed.items | "FetchPages" >> FetchPages(cfg, seen, refetch=opts.refetch, warc=warc)
    fetched["validators"] | "WriteFeedState" >> WriteState(opts.output, run_id, "state_feeds")
    return pages, (feed_list.failed, fetched["failed"], parsed.failed)


def build(p: beam.Pipeline, opts: NewsOptions, run_id: str) -> beam.PCollection:
    """Wires feeds -> items -> pages (or WARC -> pages) -> articles -> dedup -> entities ->
    dataset + state.

    Returns the PCollection of ``(table, path, rows)`` files written.
    """
    if opts.warc_input:
        archived = p | "ReadWarc" >> ReadWarc(opts.warc_input)
        pages = {"pages": archived.pages, "failed": archived.failed,
                 "duplicates": p | "NoUrlRepeats" >> beam.Create([]).with_output_types(Duplicate)}
        front_failures: tuple = ()
    else:
        pages, front_failures = _fetch_from_feeds(p, opts, run_id)
    extracted = pages["pages"] | "ExtractArticles" >> ExtractArticles(opts.min_words, opts.index_line_ratio)
    near = None if opts.no_near_dedup else DedupConfig(threshold=opts.dedup_threshold,
                                                       window_days=opts.dedup_window_days)
    index = p | "ReadDedupIndex" >> ReadState(opts.output, "state_dedup")
    deduped = extracted.articles | "Deduplicate" >> Deduplicate(near, index)
    deduped["index"] | "WriteDedupIndex" >> WriteState(opts.output, run_id, "state_dedup")
    tagged = deduped["articles"] | "TagEntities" >> TagEntities(
        SpacyModelHandler(opts.ner_model, batch_size=opts.ner_batch_size, chunk_chars=opts.ner_chunk_chars)
    )
    failures = (
        *front_failures,
        pages["failed"],
        extracted.failed,
        tagged["failed"],
    ) | "FlattenFailures" >> beam.Flatten()
    duplicates = (
        (pages["duplicates"], deduped["duplicates"])
        | "FlattenDuplicates" >> beam.Flatten()
        | "ResolveCanonicals" >> ResolveCanonicals()
    )

    (
        (tagged["articles"], duplicates)
        | "SeenUrlsOf" >> SeenUrlsOf()
        | "WriteSeenUrls" >> WriteState(opts.output, run_id, "state_seen")
    )
    return {
        "articles": tagged["articles"],
        "duplicates": duplicates,
        "failures": failures,
    } | "WriteDataset" >> WriteDataset(opts.output, run_id, opts.max_rows_per_file)
