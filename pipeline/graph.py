"""Assembles the newsbeam graph (no work at import time; see STYLE.md)."""

from __future__ import annotations

import apache_beam as beam

from pipeline.options import NewsOptions
from transforms._http import FetchConfig
from transforms.deduplicate import Deduplicate
from transforms.extract_articles import ExtractArticles
from transforms.fetch_feeds import FetchFeeds
from transforms.fetch_pages import FetchPages
from transforms.parse_feeds import ParseFeeds
from transforms.read_feed_list import ReadFeedList
from transforms.state import ReadState, SeenUrlsOf, WriteState
from transforms.tag_entities import SpacyModelHandler, TagEntities
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


def build(p: beam.Pipeline, opts: NewsOptions, run_id: str) -> beam.PCollection:
    """Wires feeds -> items -> pages -> articles -> dedup -> entities -> dataset + state.

    Returns the PCollection of ``(table, path, rows)`` files written.
    """
    cfg = fetch_config(opts)
    validators = p | "ReadFeedState" >> ReadState(opts.output, "state_feeds")
    seen = p | "ReadSeenUrls" >> ReadState(opts.output, "state_seen")

    feed_list = p | "ReadFeedList" >> ReadFeedList(opts.feeds)
    fetched = feed_list.feeds | "FetchFeeds" >> FetchFeeds(cfg, validators)
    parsed = fetched["feeds"] | "ParseFeeds" >> ParseFeeds()
    pages = parsed.items | "FetchPages" >> FetchPages(cfg, seen, refetch=opts.refetch)
    extracted = pages["pages"] | "ExtractArticles" >> ExtractArticles(opts.min_words)
    deduped = extracted.articles | "Deduplicate" >> Deduplicate()
    tagged = deduped["articles"] | "TagEntities" >> TagEntities(
        SpacyModelHandler(opts.ner_model, batch_size=opts.ner_batch_size)
    )
    failures = (
        feed_list.failed,
        fetched["failed"],
        parsed.failed,
        pages["failed"],
        extracted.failed,
        tagged["failed"],
    ) | "FlattenFailures" >> beam.Flatten()
    duplicates = (pages["duplicates"], deduped["duplicates"]) | "FlattenDuplicates" >> beam.Flatten()

    fetched["validators"] | "WriteFeedState" >> WriteState(opts.output, run_id, "state_feeds")
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
