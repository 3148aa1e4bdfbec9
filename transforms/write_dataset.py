"""WriteDataset: articles, duplicates and failures -> partitioned Parquet under OUT.

Consumes a dict ``{"articles": Article, "duplicates": Duplicate, "failures": Failure}``
and writes those three tables plus ``entities`` (one row per article and entity key,
derived from the articles, so ``GROUP BY key`` needs no UNNEST); for each table,
``OUT/<table>/<partition>=<value>/<run_id>-<seq>.parquet``
with the explicit schema from ``schemas.tables``. Files appear atomically (temporary file
+ rename), a new one every ``max_rows_per_file`` rows, and carry the run id, so a second
run adds files. Emits one ``(table, path, rows)`` tuple per file written. Two ways to cut
rows into files:

- ``per_bundle=True`` (batch runs): each bundle writes its rows as they arrive, one open
  file per partition, ``ROW_GROUP`` rows held per open file; files are named
  ``<run_id>-<bundle>-<seq>.parquet`` (``bundle`` is new for every attempt, so a failed
  attempt's files are never taken for a good one's: the job commit moves only the files
  listed by the bundles that succeeded). Nothing holds a partition's rows: memory does not
  grow with the run, and every worker writes.
- grouped by partition (streams): each window's panes are grouped and written as
  ``<stream_id>-<window start>-p<pane>-<seq>.parquet`` (a retried bundle rewrites the same
  name; a window's rows are bounded by the window).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow, GlobalWindows

from schemas.elements import Article, EntityRow
from schemas.tables import TABLES, TableSpec, to_table
from transforms import _progress as progress
from transforms._files import crash_point, ensure_dir, join, temp_dir, write_atomically
from transforms._files import delete as delete_files
from transforms._timing import timed

__all__ = ["WriteDataset", "WriteTable", "entity_rows", "file_prefix"]

STAGE = "write"
ROW_GROUP = 10_000  # rows per Parquet row group when a partition's rows are grouped (streams)
BUNDLE_ROW_GROUP = 1_000  # rows held per open file, and per row group, when writing per bundle


def _count_failures(rows: list[Any]) -> None:
    for (unit, severity), n in Counter((row.unit, row.severity) for row in rows).items():
        progress.counter(STAGE, f"failures_{unit}_{severity}").inc(n)


class _WritePartitionFn(beam.DoFn):
    def __init__(self, root: str, run_id: str, spec: TableSpec, max_rows_per_file: int):
        self._root = root
        self._run_id = run_id
        self._spec = spec
        self._max_rows = max_rows_per_file
        self._rows = Metrics.counter(STAGE, f"{spec.name}_rows")
        self._files = Metrics.counter(STAGE, f"{spec.name}_files")

    @timed(STAGE)
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
            _count_failures(rows)
        return (self._spec.name, path, len(rows))


class _OpenFile:
    """One Parquet file being written: rows are buffered up to a row group and flushed as
    it fills; ``close`` renames the temporary file to its name."""

    def __init__(self, root: str, run_id: str, path: str, schema, row_group: int):
        self.path = path
        self.rows = 0
        self._run_id = run_id
        self._schema = schema
        self._row_group = row_group
        self._buffer: list[Any] = []
        self._tmp = join(temp_dir(root, run_id), f"{uuid.uuid4().hex}.tmp")
        self._handle = FileSystems.create(self._tmp)
        self._writer = pq.ParquetWriter(self._handle, schema, compression="zstd")

    def add(self, row: Any) -> None:
        self._buffer.append(row)
        self.rows += 1
        if len(self._buffer) >= self._row_group:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(to_table(self._buffer, self._run_id, self._schema))
            self._buffer = []

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._handle.close()
        ensure_dir(FileSystems.split(self.path)[0])
        FileSystems.rename([self._tmp], [self.path])

    def abandon(self) -> None:
        """A failed bundle: its temporary file goes (the staging folder would go anyway)."""
        try:
            self._handle.close()
            delete_files([self._tmp])
        except Exception:  # noqa: BLE001 - best effort; the run's temporary folder is removed at its end
            pass


class _WriteRowsFn(beam.DoFn):
    """Rows -> Parquet files, written as the rows arrive: within one bundle, one open file per
    partition, ``row_group`` rows held per open file, a new file every ``max_rows`` rows."""

    def __init__(self, root: str, run_id: str, spec: TableSpec, max_rows_per_file: int,
                 row_group: int = BUNDLE_ROW_GROUP):
        self._root = root
        self._run_id = run_id
        self._spec = spec
        self._max_rows = max_rows_per_file
        self._row_group = row_group
        self._open: dict[str, _OpenFile] = {}
        self._rows = Metrics.counter(STAGE, f"{spec.name}_rows")
        self._files = Metrics.counter(STAGE, f"{spec.name}_files")

    def start_bundle(self) -> None:
        self._open = {}
        self._bundle = uuid.uuid4().hex[:12]
        self._seq = 0

    @timed(STAGE)
    def process(self, row: Any) -> Iterator[tuple[str, str, int]]:
        partition = self._spec.partition_of(row)
        handle = self._open.get(partition)
        if handle is None:
            handle = self._open[partition] = self._new_file(partition)
        handle.add(row)
        if self._spec.name == "failures":
            progress.counter(STAGE, f"failures_{row.unit}_{row.severity}").inc()
        if handle.rows >= self._max_rows:
            del self._open[partition]
            yield self._close(handle)

    @timed(STAGE)
    def finish_bundle(self) -> Iterator:
        for handle in self._open.values():
            yield GlobalWindows.windowed_value(self._close(handle))
        self._open = {}

    def teardown(self) -> None:
        for handle in self._open.values():
            handle.abandon()

    def _new_file(self, partition: Optional[str]) -> _OpenFile:
        directory = join(self._root, self._spec.directory)
        if self._spec.partition_column:
            directory = join(directory, f"{self._spec.partition_column}={partition}")
        path = join(directory, f"{self._run_id}-{self._bundle}-{self._seq:05d}.parquet")
        self._seq += 1
        return _OpenFile(self._root, self._run_id, path, self._spec.schema, self._row_group)

    def _close(self, handle: _OpenFile) -> tuple[str, str, int]:
        handle.close()
        crash_point("during_writes")
        self._rows.inc(handle.rows)
        self._files.inc()
        return (self._spec.name, handle.path, handle.rows)


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
        per_bundle: write each bundle's rows as they arrive (batch runs; see the module
            docstring) instead of grouping each partition's rows first.
    """

    def __init__(self, root: str, run_id: str, table: str, max_rows_per_file: int = 100_000,
                 per_bundle: bool = False):
        super().__init__()
        self._root = root
        self._run_id = run_id
        self._spec = TABLES[table]
        self._max_rows = max_rows_per_file
        self._per_bundle = per_bundle

    def expand(self, rows):
        spec = self._spec
        if self._per_bundle:
            return rows | "WriteParquet" >> beam.ParDo(_WriteRowsFn(self._root, self._run_id, spec, self._max_rows))
        return (
            rows
            | "KeyByPartition" >> beam.WithKeys(spec.partition_of)
            | "GroupByPartition" >> beam.GroupByKey()
            | "WriteParquet"
            >> beam.ParDo(_WritePartitionFn(self._root, self._run_id, spec, self._max_rows))
        )


class WriteDataset(beam.PTransform):
    """Writes articles, duplicates, failures and (when given) stories; outputs the ``(table,
    path, rows)`` written.

    ``per_bundle``: see the module docstring (batch runs: True).
    """

    def __init__(self, root: str, run_id: str, max_rows_per_file: int = 100_000, per_bundle: bool = False):
        super().__init__()
        self._root = root
        self._run_id = run_id
        self._max_rows = max_rows_per_file
        self._per_bundle = per_bundle

    def expand(self, tables: dict):
        written = [
            tables[name]
            | f"Write{name.capitalize()}" >> WriteTable(self._root, self._run_id, name, self._max_rows,
                                                         self._per_bundle)
            for name in ("articles", "duplicates", "failures", "stories") if name in tables
        ]
        written.append(
            tables["articles"]
            | "EntityRows" >> beam.FlatMap(entity_rows).with_output_types(EntityRow)
            | "WriteEntities" >> WriteTable(self._root, self._run_id, "entities", self._max_rows, self._per_bundle)
        )
        return written | "FilesWritten" >> beam.Flatten()

