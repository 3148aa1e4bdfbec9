"""State compaction: many daily state files become one per table, with the same meaning."""

from __future__ import annotations

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import pinned_options

from schemas.elements import FeedValidators, SeenUrl
from schemas.tables import FEED_STATE_SCHEMA, SEEN_STATE_SCHEMA, to_table
from transforms.state import ReadState, compact_state, state_files


def _write_runs(root):
    feeds, seen = root / "state" / "feeds", root / "state" / "seen"
    feeds.mkdir(parents=True)
    seen.mkdir(parents=True)
    for day in range(1, 6):
        run = f"2026010{day}"
        validators = [FeedValidators("http://a/feed", f'"etag-{day}"', None, f"2026-01-0{day}T04:00:00+00:00")]
        if day == 2:  # a feed checked only once, early
            validators.append(FeedValidators("http://b/feed", None, "Fri, 02 Jan 2026 00:00:00 GMT",
                                             "2026-01-02T04:00:00+00:00"))
        pq.write_table(to_table(validators, run, FEED_STATE_SCHEMA), feeds / f"{run}-00000.parquet")
        urls = [SeenUrl(f"http://a/{day}", f"id{day}"), SeenUrl("http://a/every-day", "id0")]
        pq.write_table(to_table(urls, run, SEEN_STATE_SCHEMA), seen / f"{run}-00000.parquet")


def _read(root, table):
    """The rows of the table's state files."""
    rows = []
    for path in state_files(str(root), table):
        rows += pq.read_table(path).to_pylist()
    return rows


def test_compaction_keeps_latest_validators_and_every_seen_url(tmp_path):
    _write_runs(tmp_path)
    assert compact_state(str(tmp_path), "r6", max_files=5) == []  # not past the limit yet
    replaced = compact_state(str(tmp_path), "r6", max_files=4)
    assert len(replaced) == 10
    assert [f.rsplit("/", 1)[-1] for f in state_files(str(tmp_path), "state_feeds")] == ["r6-compacted.parquet"]
    assert [f.rsplit("/", 1)[-1] for f in state_files(str(tmp_path), "state_seen")] == ["r6-compacted.parquet"]
    validators = sorted((v["feed_url"], v["etag"], v["last_modified"]) for v in _read(tmp_path, "state_feeds"))
    assert validators == [("http://a/feed", '"etag-5"', None),
                          ("http://b/feed", None, "Fri, 02 Jan 2026 00:00:00 GMT")]
    expected_seen = [(f"http://a/{d}", f"id{d}") for d in range(1, 6)] + [("http://a/every-day", "id0")]
    with test_pipeline.TestPipeline(options=pinned_options()) as p:  # what the next run reads
        seen = p | ReadState(str(tmp_path), "state_seen") | beam.Map(lambda s: (s.canonical_url, s.article_id))
        assert_that(seen, equal_to(expected_seen))
    assert not (tmp_path / "_temporary" / "r6").exists() or not list((tmp_path / "_temporary" / "r6").iterdir())


def test_a_compacted_state_compacts_again_with_new_files(tmp_path):
    _write_runs(tmp_path)
    compact_state(str(tmp_path), "r6", max_files=4)
    feeds = tmp_path / "state" / "feeds"
    for run in ("r7", "r8"):
        pq.write_table(to_table([FeedValidators("http://a/feed", f'"{run}"', None, "2026-02-01T04:00:00+00:00"
                                                if run == "r7" else "2026-02-02T04:00:00+00:00")],
                                run, FEED_STATE_SCHEMA), feeds / f"{run}-00000.parquet")
    compact_state(str(tmp_path), "r9", max_files=2)
    latest = {v["feed_url"]: v["etag"] for v in _read(tmp_path, "state_feeds")}
    assert latest == {"http://a/feed": '"r8"', "http://b/feed": None}
    assert [p.name for p in feeds.iterdir()] == ["r9-compacted.parquet"]


def _story_state(story_id: str, articles: int, updated_at: str):
    from schemas.elements import StoryState

    members = [f"{story_id}-{k}" for k in range(articles)]
    return StoryState(story_id, "2026-01-01T06:00:00+00:00", f"2026-01-0{articles}T06:00:00+00:00", articles,
                      members, ["Outlet A"], [articles], "A title", ["tehran", "meet"], [3, 2],
                      ["tehran"], [1], ["PERSON:khamis"], [articles], updated_at)


def test_story_index_compacts_to_each_storys_latest_row_and_prunes_expired_files(tmp_path):
    from schemas.tables import STORY_STATE_SCHEMA
    from transforms.state import prune_story_index

    stories = tmp_path / "state" / "stories"
    stories.mkdir(parents=True)
    runs = {"r1": [_story_state("s1", 1, "2026-01-01T07:00:00+00:00"),
                   _story_state("s2", 1, "2026-01-01T07:00:00+00:00")],
            "r2": [_story_state("s1", 2, "2026-01-02T07:00:00+00:00")],  # s1 continued
            "r3": [_story_state("s3", 1, "2026-03-01T07:00:00+00:00")]}
    for run, rows in runs.items():
        pq.write_table(to_table(rows, run, STORY_STATE_SCHEMA), stories / f"{run}-00000.parquet")
    import datetime as dt

    now = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
    pruned = prune_story_index(str(tmp_path), window_days=30, now=now)
    assert sorted(p.rsplit("/", 1)[-1] for p in pruned) == ["r1-00000.parquet", "r2-00000.parquet"]
    for run in ("r1", "r2"):  # back again, to compact
        pq.write_table(to_table(runs[run], run, STORY_STATE_SCHEMA), stories / f"{run}-00000.parquet")
    compact_state(str(tmp_path), "r4", max_files=2)
    latest = {r["story_id"]: (r["articles"], r["article_ids"], r["run_id"]) for r in _read(tmp_path, "state_stories")}
    assert latest == {"s1": (2, ["s1-0", "s1-1"], "r2"), "s2": (1, ["s2-0"], "r1"), "s3": (1, ["s3-0"], "r3")}
    assert [p.name for p in stories.iterdir()] == ["r4-compacted.parquet"]
