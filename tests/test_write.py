"""Schemas and WriteDataset: explicit Arrow schemas, partitions, atomic run-named files."""

from __future__ import annotations

import json

import apache_beam as beam
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing import test_pipeline
from conftest import pinned_options
from samples_util import article

from schemas.elements import Article, Duplicate, Entity, Failure
from schemas.tables import ARTICLE_SCHEMA, DUPLICATE_SCHEMA, FAILURE_SCHEMA, SCHEMA_VERSION, to_table
from transforms.write_dataset import BUNDLE_ROW_GROUP, WriteDataset

CONTRACT = {
    ARTICLE_SCHEMA: ["article_id", "url", "canonical_url", "feed_url", "source", "title", "authors",
                     "published", "modified", "fetched_at", "language", "text", "word_count", "description",
                     "image_url", "tags", "text_source", "content_hash", "entities", "run_id",
                     "schema_version"],
    DUPLICATE_SCHEMA: ["url", "article_id", "canonical_article_id", "method", "similarity", "feed_url",
                       "source", "title", "published", "fetched_at", "run_id"],
    FAILURE_SCHEMA: ["run_id", "stage", "url", "feed_url", "error", "detail", "http_status", "severity",
                     "at"],
}


@pytest.mark.parametrize("schema", list(CONTRACT), ids=["articles", "duplicates", "failures"])
def test_contract_columns_are_present(schema):
    assert set(CONTRACT[schema]) <= set(schema.names)
    assert schema.metadata[b"newsbeam.schema_version"] == SCHEMA_VERSION.encode()


@pytest.mark.parametrize("row_type,schema", [(Article, ARTICLE_SCHEMA), (Duplicate, DUPLICATE_SCHEMA),
                                             (Failure, FAILURE_SCHEMA)])
def test_element_types_and_arrow_schemas_agree(row_type, schema):
    added_at_sink = {"run_id", "schema_version"}
    assert set(schema.names) - added_at_sink == set(row_type._fields) - {"unit"} | (
        {"unit"} if "unit" in schema.names else set())


def test_entities_are_a_list_of_structs_and_timestamps_utc():
    a = article("http://a/1", "Imad Khamis in Tehran", "2020-01-07T09:30:00+03:30")
    a = a._replace(entities=[Entity("Imad Khamis", "PERSON", 0, 11, "PERSON:imad khamis")])
    table = to_table([a], "run1", ARTICLE_SCHEMA)
    assert table.schema == ARTICLE_SCHEMA
    row = table.to_pylist()[0]
    assert row["entities"][0] == {"text": "Imad Khamis", "label": "PERSON", "start": 0, "end": 11,
                                  "key": "PERSON:imad khamis"}
    assert row["published"].isoformat() == "2020-01-07T06:00:00+00:00"


def test_a_row_that_does_not_fit_fails_at_conversion():
    bad = article("http://a/1", "x", None)._replace(word_count="many")
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        to_table([bad], "run1", ARTICLE_SCHEMA)


def _write(root, run_id, articles, failures=()):
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        tables = {
            "articles": p | "A" >> beam.Create(articles, reshuffle=False),
            "duplicates": p | "D" >> beam.Create([], reshuffle=False).with_output_types(Duplicate),
            "failures": p | "F" >> beam.Create(list(failures), reshuffle=False).with_output_types(Failure),
        }
        tables | WriteDataset(str(root), run_id)


def test_dataset_layout_round_trip_and_second_run_adds_files(tmp_path):
    docs = [article("http://a/1", "one " * 60, "2020-01-07T06:00:00+00:00"),
            article("http://a/2", "two " * 60, "2020-01-08T06:00:00+00:00"),
            article("http://a/3", "three " * 60, None)]
    fail = Failure.of("fetch", "http://a/4", "HttpError", detail="HTTP 404", http_status=404)
    _write(tmp_path, "run1", docs, [fail])
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert files == [
        "articles/published_date=2020-01-07/run1-00000.parquet",
        "articles/published_date=2020-01-08/run1-00000.parquet",
        "articles/published_date=2020-01-09/run1-00000.parquet",  # undated: fetched_at's date
        f"failures/run_date={fail.at[:10]}/run1-00000.parquet",
    ]
    assert pq.read_schema(tmp_path / files[0]) == ARTICLE_SCHEMA
    assert list(tmp_path.glob("_temporary/**/*.tmp")) == []  # every temporary file was renamed
    _write(tmp_path, "run2", docs[:1])
    rows = duckdb.sql(
        f"SELECT run_id, url, published_date FROM read_parquet('{tmp_path}/articles/**/*.parquet', "
        "hive_partitioning=true) ORDER BY run_id, url").fetchall()
    assert [(r[0], r[1], str(r[2])) for r in rows] == [
        ("run1", "http://a/1", "2020-01-07"), ("run1", "http://a/2", "2020-01-08"),
        ("run1", "http://a/3", "2020-01-09"), ("run2", "http://a/1", "2020-01-07")]
    status = duckdb.sql(f"SELECT http_status, severity FROM read_parquet('{tmp_path}/failures/**/*.parquet')")
    assert status.fetchall() == [(404, "error")]


def _write_per_bundle(root, run_id, articles, max_rows_per_file=100_000):
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        tables = {
            "articles": p | "A" >> beam.Create(articles, reshuffle=False),
            "duplicates": p | "D" >> beam.Create([], reshuffle=False).with_output_types(Duplicate),
            "failures": p | "F" >> beam.Create([], reshuffle=False).with_output_types(Failure),
        }
        written = tables | WriteDataset(str(root), run_id, max_rows_per_file, per_bundle=True)
        files = written | beam.combiners.ToList()
        files | beam.Map(lambda listed: (root / "listed.json").write_text(json.dumps(listed)))


def test_per_bundle_writes_stream_rows_into_row_groups_and_list_every_file(tmp_path):
    docs = [article(f"http://a/{i}", f"text {i} " * 20, "2020-01-07T06:00:00+00:00") for i in range(2_500)]
    _write_per_bundle(tmp_path, "run1", docs)
    files = sorted(tmp_path.glob("articles/**/*.parquet"))
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == 2_500
    # Rows went out a row group at a time as they arrived, not held until the end.
    assert all(pq.ParquetFile(f).metadata.num_row_groups == -(-pq.ParquetFile(f).metadata.num_rows // BUNDLE_ROW_GROUP)
               for f in files)
    assert max(pq.ParquetFile(f).metadata.num_row_groups for f in files) > 1
    listed = json.loads((tmp_path / "listed.json").read_text())
    assert sorted(path for _, path, _ in listed if "articles" in path) == [str(f) for f in files]
    assert sum(rows for table, _, rows in listed if table == "articles") == 2_500
    assert list(tmp_path.glob("_temporary/**/*.tmp")) == []


def test_per_bundle_writes_roll_over_at_max_rows_per_file(tmp_path):
    docs = [article(f"http://a/{i}", f"text {i} " * 20, "2020-01-07T06:00:00+00:00") for i in range(250)]
    _write_per_bundle(tmp_path, "run1", docs, max_rows_per_file=100)
    counts = sorted(pq.ParquetFile(f).metadata.num_rows for f in tmp_path.glob("articles/**/*.parquet"))
    assert sum(counts) == 250 and max(counts) <= 100 and len(counts) >= 3
