"""WriteDataset: articles, duplicates and failures -> partitioned Parquet under OUT.

Consumes a dict ``{"articles": Article, "duplicates": Duplicate, "failures": Failure}``
and writes those three tables plus ``entities`` (one row per article and entity key,
derived from the articles, so ``GROUP BY key`` needs no UNNEST); for each table,
``OUT/<table>/<partition>=<value>/<run_id>-<seq>.parquet``
with the explicit schema from ``schemas.tables``. Rows are grouped by partition and
streamed into row groups, a new file every ``max_rows_per_file`` rows. Files appear
atomically (temporary file + rename) and carry the run id, so a second run adds files.
In a stream each window's panes are written the same way, named
``<stream_id>-<window start>-p<pane>-<seq>.parquet`` (a retried bundle rewrites the same
name). Emits one ``(table, path, rows)`` tuple per file written.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, Iterable, Iterator

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow

from schemas.elements import Article, EntityRow
from schemas.tables import TABLES, TableSpec, to_table
from transforms._files import crash_point, join, write_atomically

__all__ = ["WriteDataset", "WriteTable", "entity_rows", "file_prefix"]

STAGE = "write"
ROW_GROUP = 10_000


class _WritePartitionFn(beam.DoFn):
    def __init__(self, root: str, run_id: str, spec: TableSpec, max_rows_per_file: int):
        self._root = root
        self._run_id = run_id
        self._spec = spec
        self._max_rows = max_rows_per_file
        self._rows = Metrics.counter(STAGE, f"{spec.name}_rows")
        self._files = Metrics.counter(STAGE, f"{spec.name}_files")

    def process(self, keyed: tuple[str, Iterable[Any]], win=beam.DoFn.WindowParam,
                pane=beam.DoFn.PaneInfoParam) -> Iterator[tuple[str, str, int]]:
        partition, rows = keyed
        directory = join(self._root, self._spec.directory)
        if self._spec.partition_column:
            directory = join(directory, f"{self._spec.partition_column}={partition}")
        prefix = file_prefix(self._run_id, win, pane)
        batch: list[Any] = []
        seq = 0
        for row in rows:
            batch.append(row)
            if len(batch) >= self._max_rows:
                yield self._write(directory, prefix, seq, batch)
                seq, batch = seq + 1, []
        if batch:
            yield self._write(directory, prefix, seq, batch)

    def _write(self, directory: str, prefix: str, seq: int, rows: list[Any]) -> tuple[str, str, int]:
        path = join(directory, f"{prefix}-{seq:05d}.parquet")
        schema = self._spec.schema

        def write(handle):
            with pq.ParquetWriter(handle, schema, compression="zstd") as writer:
                for start in range(0, len(rows), ROW_GROUP):
                    writer.write_table(to_table(rows[start : start + ROW_GROUP], self._run_id, schema))

        write_atomically(self._root, self._run_id, path, write)
        crash_point("during_writes")
        self._rows.inc(len(rows))
        self._files.inc()
        if self._spec.name == "failures":
            for (unit, severity), n in Counter((row.unit, row.severity) for row in rows).items():
                Metrics.counter(STAGE, f"failures_{unit}_{severity}").inc(n)
        return (self._spec.name, path, len(rows))


def file_prefix(run_id: str, win: Any, pane: Any) -> str:
    """``run_id`` for a batch run; ``run_id-<window start>-p<pane index>`` for a stream's window."""
    if isinstance(win, GlobalWindow):
        return run_id
    start = dt.datetime.fromtimestamp(win.start.micros / 1e6, dt.timezone.utc)
    return f"{run_id}-{start:%Y%m%dT%H%M%S}-p{pane.index}"


def entity_rows(article: Article) -> list[EntityRow]:
    """The flat entities/ rows of one article: one per (key, label), with its surface forms
    (in order of appearance) and mention count."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for entity in article.entities or []:
        grouped.setdefault((entity.key, entity.label), []).append(entity.text)
    return [EntityRow(article.article_id, key, label, list(dict.fromkeys(texts)), len(texts), article.published,
                      article.fetched_at, article.source, article.url)
            for (key, label), texts in grouped.items()]


class WriteTable(beam.PTransform):
    """Writes one table of the dataset.

    Args:
        root: the output directory (any Beam filesystem path).
        run_id: carried in every file name and in the ``run_id`` column.
        table: a name in ``schemas.tables.TABLES``.
        max_rows_per_file: a partition with more rows is split over several files.
    """

    def __init__(self, root: str, run_id: str, table: str, max_rows_per_file: int = 100_000):
        super().__init__()
        self._root = root
        self._run_id = run_id
        self._spec = TABLES[table]
        self._max_rows = max_rows_per_file

    def expand(self, rows):
        spec = self._spec
        return (
            rows
            | "KeyByPartition" >> beam.WithKeys(spec.partition_of)
            | "GroupByPartition" >> beam.GroupByKey()
            | "WriteParquet"
            >> beam.ParDo(_WritePartitionFn(self._root, self._run_id, spec, self._max_rows))
        )


class WriteDataset(beam.PTransform):
    """Writes articles, duplicates and failures; outputs the ``(table, path, rows)`` written."""

    def __init__(self, root: str, run_id: str, max_rows_per_file: int = 100_000):
        super().__init__()
        self._root = root
        self._run_id = run_id
        self._max_rows = max_rows_per_file

    def expand(self, tables: dict):
        written = [
            tables[name]
            | f"Write{name.capitalize()}" >> WriteTable(self._root, self._run_id, name, self._max_rows)
            for name in ("articles", "duplicates", "failures")
        ]
        written.append(
            tables["articles"]
            | "EntityRows" >> beam.FlatMap(entity_rows).with_output_types(EntityRow)
            | "WriteEntities" >> WriteTable(self._root, self._run_id, "entities", self._max_rows)
        )
        return written | "FilesWritten" >> beam.Flatten()

