"""ReadState / WriteState: what one run leaves for the next, under ``OUT/state/``.

- ``state/feeds/``: each feed's ETag and Last-Modified (FeedValidators), for conditional GETs;
- ``state/seen/``: canonical URLs already ingested (SeenUrl), so they are not fetched again;
- ``state/dedup/``: the near-duplicate index (DedupEntry: id, published, MinHash
  signature), so a copy in a later run points to the earlier article. Entries older than
  the retention window are ignored, and a run's file is deleted once all its entries are.
- ``state/stories/``: the story index (StoryState), so a later run's follow-up joins an
  earlier story; a run writes a new row for each story it added to (readers take the
  latest row per story), and a file is deleted once all its stories are older than the
  dedup window.

A run writes its state files into ``OUT/_temporary/<run_id>/state/`` and the driver moves
them into ``OUT/state/`` only after the pipeline succeeded (``pipeline.commit``): a run that
crashes leaves the state exactly as it was. Each run adds one file per table; readers
take the union (for feeds, the newest row per URL wins).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.elements import Article, Duplicate, SeenUrl
from schemas.tables import ROW_TYPES, TABLES
from transforms._files import delete as delete_files
from transforms._files import join, match_under, temp_dir, write_atomically
from transforms._urls import canonical_url
from transforms.write_dataset import WriteTable

__all__ = ["ReadState", "WriteState", "SeenUrlsOf", "compact_state", "prune_dedup_index",
           "prune_story_index", "state_files"]

STATE_DIR = "state"


def state_files(root: str, table: str) -> list[str]:
    return match_under(join(root, STATE_DIR, TABLES[table].directory), "*.parquet")


def _parquet_records(path: str, columns: list[str]) -> Iterator[dict]:
    """The records of one Parquet file, a row group at a time. (Beam's ReadAllFromParquet
    reads a path as a pattern, so an OUT named with "[", "*" or "?" read nothing.)"""
    with FileSystems.open(path) as handle:
        parquet = pq.ParquetFile(handle)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        for group in range(parquet.num_row_groups):
            yield from parquet.read_row_group(group, columns=present).to_pylist()


def _to_row(record: dict, row_type: Any) -> Any:
    values = {}
    for field in row_type._fields:
        value = record.get(field)
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
        values[field] = value
    return row_type(**values)


class ReadState(beam.PTransform):
    """Reads every state file of ``table`` (``state_feeds`` or ``state_seen``) as typed rows.

    The files are listed when the graph is built, so a first run (no state yet) reads nothing.
    """

    def __init__(self, root: str, table: str):
        super().__init__()
        self._root = root
        self._table = table

    def expand(self, pbegin):
        row_type = ROW_TYPES[self._table]
        files = state_files(self._root, self._table)
        if not files:
            return pbegin | "NoState" >> beam.Create([]).with_output_types(row_type)
        columns = list(row_type._fields)
        return (
            pbegin
            | "StateFiles" >> beam.Create(files)
            | "ReadParquet" >> beam.FlatMap(_parquet_records, columns)
            | "ToRows" >> beam.Map(_to_row, row_type).with_output_types(row_type)
        )


def _article_urls(article: Article) -> list[SeenUrl]:
    urls = {article.canonical_url, canonical_url(article.url), article.item_url}
    return [SeenUrl(u, article.article_id) for u in sorted(u for u in urls if u)]


def _duplicate_urls(duplicate: Duplicate) -> list[SeenUrl]:
    return [SeenUrl(canonical_url(duplicate.url), duplicate.article_id)]


class SeenUrlsOf(beam.PTransform):
    """(articles, duplicates) -> the distinct SeenUrl rows this run ingested: each article's
    canonical, fetched and feed-item URLs and each duplicate's URL."""

    def expand(self, pcolls):
        articles, duplicates = pcolls
        return (
            (articles | "ArticleUrls" >> beam.FlatMap(_article_urls).with_output_types(SeenUrl),
             duplicates | "DuplicateUrls" >> beam.FlatMap(_duplicate_urls).with_output_types(SeenUrl))
            | "FlattenSeen" >> beam.Flatten()
            | "DistinctSeen" >> beam.Distinct()
        )


class WriteState(beam.PTransform):
    """Stages this run's rows of ``table`` for the run's commit (``pipeline.commit``); or, for a stream
    (``staged=False``), writes each window's rows straight into ``OUT/state/`` as the
    window closes, so a batch run or a restarted stream sees them."""

    def __init__(self, root: str, run_id: str, table: str, staged: bool = True):
        super().__init__()
        self._root = root
        self._run_id = run_id
        self._table = table
        self._staged = staged

    def expand(self, rows):
        target = join(temp_dir(self._root, self._run_id), STATE_DIR) if self._staged else \
            join(self._root, STATE_DIR)
        return rows | "WriteStateTable" >> WriteTable(target, self._run_id, self._table)


def _prune(root: str, table: str, column: str, window_days: int, now: dt.datetime | None) -> list[str]:
    """Deletes the files of ``table`` whose latest ``column`` time is before the window."""
    import pyarrow.parquet as pq

    cutoff = (now or dt.datetime.now(dt.timezone.utc)) - dt.timedelta(days=window_days)
    pruned = []
    for path in state_files(root, table):
        with FileSystems.open(path) as handle:
            times = pq.read_table(handle, columns=[column]).column(column).to_pylist()
        if not times or max(times) < cutoff:
            delete_files([path])
            pruned.append(path)
    return pruned


def prune_dedup_index(root: str, window_days: int, now: dt.datetime | None = None) -> list[str]:
    """Deletes the index files all of whose entries are older than the window; returns them."""
    return _prune(root, "state_dedup", "indexed_at", window_days, now)


def prune_story_index(root: str, window_days: int, now: dt.datetime | None = None) -> list[str]:
    """Deletes the story index files all of whose stories were last touched before the
    window (the dedup window's retention); returns them."""
    return _prune(root, "state_stories", "updated_at", window_days, now)


def _read_all(paths: list[str]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for path in paths:
        with FileSystems.open(path) as handle:
            tables.append(pq.read_table(handle))
    return pa.concat_tables(tables, promote_options="default")


def _compacted(table: str, rows):
    """One row per feed (its latest validators) or per seen URL (its first article id)."""
    import pyarrow as pa

    schema = TABLES[table].schema
    if table == "state_feeds":
        latest: dict = {}
        for row in rows.to_pylist():
            kept = latest.get(row["feed_url"])
            if kept is None or (row["checked_at"] or _EPOCH) > (kept["checked_at"] or _EPOCH):
                latest[row["feed_url"]] = row
        return pa.Table.from_pylist(sorted(latest.values(), key=lambda r: r["feed_url"]), schema=schema)
    if table == "state_stories":  # a story's latest row (a run that added to it wrote a new one)
        latest = {}
        for row in rows.to_pylist():
            kept = latest.get(row["story_id"])
            if kept is None or (row["updated_at"], row["articles"]) > (kept["updated_at"], kept["articles"]):
                latest[row["story_id"]] = row
        return pa.Table.from_pylist(sorted(latest.values(), key=lambda r: r["story_id"]), schema=schema)
    grouped = rows.group_by("canonical_url").aggregate([("article_id", "min"), ("run_id", "min")])
    grouped = grouped.rename_columns([{"article_id_min": "article_id", "run_id_min": "run_id"}.get(c, c)
                                      for c in grouped.column_names])
    return grouped.select(schema.names).cast(schema).sort_by("canonical_url")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
COMPACTED = ("state_feeds", "state_seen", "state_stories")


def compact_state(root: str, run_id: str, max_files: int) -> list[str]:
    """Merges the files of ``state_feeds``, ``state_seen`` and ``state_stories`` into one per
    table when a table has more than ``max_files``; returns the files it replaced.

    A daily run adds one file per table, so without this every run would list and read a
    year of small files. The merged file is written atomically before the old ones are
    deleted; if the process dies in between, the next run reads a few rows twice, which
    every table tolerates (latest validators per feed, seen URLs as a set, latest row per
    story).
    """
    import pyarrow.parquet as pq

    replaced: list[str] = []
    for table in COMPACTED:
        files = state_files(root, table)
        if len(files) <= max_files:
            continue
        merged = _compacted(table, _read_all(files))
        target = join(root, STATE_DIR, TABLES[table].directory, f"{run_id}-compacted.parquet")
        write_atomically(root, run_id, target, lambda handle, merged=merged: pq.write_table(merged, handle))
        stale = [f for f in files if f != target]
        delete_files(stale)
        replaced += stale
    return replaced
