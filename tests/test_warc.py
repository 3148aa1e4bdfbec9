"""WARC round trip: archive on run 1, re-run from the archive alone, same articles."""

from __future__ import annotations

import apache_beam as beam
import duckdb
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import RUNNER, SAMPLES, pinned_options

from pipeline.cli import run
from pipeline.demo import materialise_feed_list
from pipeline.loopback import LoopbackSite
from transforms._http import HttpResponse
from transforms.warc import ReadWarc, write_warc

pytestmark = pytest.mark.e2e

COLUMNS = "url, canonical_url, title, authors, published, language, text, word_count, content_hash, " \
          "list_transform(entities, lambda e: e.text || '/' || e.label) AS ents"


def test_rerun_from_the_warc_alone_gives_the_same_articles(tmp_path):
    with LoopbackSite(SAMPLES / "site") as site:
        feeds = materialise_feed_list(site, SAMPLES / "feeds.txt", tmp_path)
        first = run([f"--feeds={feeds}", f"--output={tmp_path / 'live'}", f"--runner={RUNNER}",
                     "--allow_private_hosts", "--per_host_delay=0.02", f"--warc_output={tmp_path / 'warc'}",
                     "--run_id=live"])
    warcs = list((tmp_path / "warc").glob("*.warc.gz"))
    assert warcs and first.manifest["stages"]["fetch"]["warc_records"] == 6  # the 6 pages fetched
    # The server is gone: the second run has only the archive.
    second = run([f"--warc_input={tmp_path / 'warc'}/*.warc.gz", f"--output={tmp_path / 'replay'}",
                  f"--runner={RUNNER}", "--run_id=replay"])
    assert second.manifest["conservation"]["balanced"]
    assert second.manifest["conservation_source"] == "run's counts"  # an archived page counts as an item
    assert second.manifest["conservation"] == second.manifest["conservation_from_metrics"]
    assert second.manifest["stages"]["warc"]["items"] == 6
    live = duckdb.sql(f"SELECT {COLUMNS} FROM read_parquet('{tmp_path}/live/articles/**/*.parquet') "
                      "ORDER BY url").fetchall()
    replay = duckdb.sql(f"SELECT {COLUMNS} FROM read_parquet('{tmp_path}/replay/articles/**/*.parquet') "
                        "ORDER BY url").fetchall()
    assert len(live) == 4 and replay == live
    dups = duckdb.sql(f"SELECT method FROM read_parquet('{tmp_path}/replay/duplicates/**/*.parquet') "
                      "ORDER BY method")
    assert dups.fetchall() == [("exact_text",), ("near_text",)]  # the copies, found again from the archive


def test_foreign_warc_records_and_a_corrupt_file(tmp_path):
    words = b"Words of a plain archived report. " * 30
    html = b"<html><body><article><p>" + words + b"</p></article></body></html>"
    ok = HttpResponse("http://archive.test/story.html", 200, "text/html", html, {"Content-Type": "text/html"})
    gone = HttpResponse("http://archive.test/gone.html", 404, "text/html", b"nope", {})
    write_warc(str(tmp_path), "x", [(ok, None), (gone, None)])
    (tmp_path / "junk.warc.gz").write_bytes(b"hello, this is not an archive\n" * 10)
    whole = next(tmp_path.glob("x-*.warc.gz")).read_bytes()
    (tmp_path / "truncated.warc.gz").write_bytes(whole[:200])
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | ReadWarc(f"{tmp_path}/*.warc.gz")
        assert_that(out.pages | beam.Map(lambda pg: (pg.final_url, pg.item.link, pg.http_status)),
                    equal_to([("http://archive.test/story.html", "http://archive.test/story.html", 200)]))
        assert_that(out.failed | beam.Map(lambda f: (f.stage, f.url.rsplit("/", 1)[-1], f.error)),
                    equal_to([("warc", "junk.warc.gz", "NotAnArchive"),
                              ("warc", "truncated.warc.gz", "EmptyArchive")]), label="Failed")
