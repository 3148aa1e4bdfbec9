"""Exactly-once visible output: a batch run SIGKILLed (its whole process group) at each named
point, then run again on the same OUT.

The crash points are reached on purpose (``NEWSBEAM_CRASH_AT``, see ``pipeline.commit``);
the runs are real ``newsbeam run`` processes on the FnApiRunner, in a session of their own,
over the bundled sample site on loopback; a reader polls the output during the first run."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import duckdb
import pytest
from conftest import ROOT, RUNNER, SAMPLES

from pipeline.demo import materialise_feed_list

DATA = ("articles", "duplicates", "failures")
BEFORE_COMMIT_POINT = ("fetch", "during_writes", "before_commit")
AFTER_COMMIT_POINT = ("mid_commit", "between_data_and_state", "before_manifest")


def newsbeam_run(feeds, out, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**__import__("os").environ, **({"NEWSBEAM_CRASH_AT": crash_at} if crash_at else {})}
    return subprocess.run([sys.executable, "-m", "pipeline", "run", f"--feeds={feeds}", f"--output={out}",
                           f"--runner={RUNNER}", "--allow_private_hosts", "--per_host_delay=0"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, start_new_session=True)


class Reader(threading.Thread):
    """Globs the data tables every 20 ms, as an analyst's query would; keeps what it saw."""

    def __init__(self, out):
        super().__init__(daemon=True)
        self.out, self.seen, self.stop = out, set(), threading.Event()

    def run(self):
        while not self.stop.is_set():
            for table in DATA:
                self.seen.update(str(p) for p in self.out.glob(f"{table}/**/*.parquet"))
            time.sleep(0.02)


def urls(out) -> list[str]:
    files = [str(p) for t in DATA for p in out.glob(f"{t}/*/*.parquet")]
    return [u for (u,) in duckdb.sql(f"SELECT url FROM read_parquet({files!r}, union_by_name=true)").fetchall()]


@pytest.fixture(scope="module")
def uninterrupted(sample_site, tmp_path_factory):
    """The rows and item count of one run that nobody killed."""
    work = tmp_path_factory.mktemp("uninterrupted")
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", work)
    done = newsbeam_run(feeds, work / "out")
    assert done.returncode == 0, done.stderr[-3000:]
    (manifest,) = [json.loads(p.read_text()) for p in (work / "out" / "runs").glob("*.json")]
    return sorted(urls(work / "out")), manifest["conservation"]["items_in"], manifest["conservation"]["articles"]


@pytest.mark.parametrize("point", BEFORE_COMMIT_POINT + AFTER_COMMIT_POINT)
def test_a_run_killed_at_any_point_is_seen_once_or_not_at_all(point, sample_site, uninterrupted, tmp_path):
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", tmp_path)
    out = tmp_path / "out"
    reader = Reader(out)
    reader.start()
    crashed = newsbeam_run(feeds, out, crash_at=point)
    reader.stop.set()
    reader.join()
    assert crashed.returncode == -9, crashed.stderr[-3000:]  # SIGKILLed where told
    (first,) = [p.name for p in (out / "_temporary").iterdir()]
    if point in BEFORE_COMMIT_POINT:
        assert not reader.seen, "a reader saw files of a run that had not committed"
        assert not list((out / "runs").glob("*.json")) if (out / "runs").exists() else True

    again = newsbeam_run(feeds, out)
    assert again.returncode == 0, again.stderr[-3000:]
    manifests = {p.stem: json.loads(p.read_text()) for p in (out / "runs").glob("*.json")}
    (second,) = [run for run in manifests if run != first]
    recovered = manifests[second]["recovered"]
    if point in BEFORE_COMMIT_POINT:
        assert recovered == {"rolled_forward": [], "abandoned": [first]}
        assert first not in manifests
    else:
        assert recovered == {"rolled_forward": [first], "abandoned": []}
        assert manifests[first]["rolled_forward"] and manifests[first]["state"] == "DONE"
    # Every feed item accounted once across both runs; the rows are those of a run nobody killed.
    rows, items, articles = uninterrupted
    assert sum(m["conservation"]["items_in"] for m in manifests.values()) == items
    assert all(m["conservation"]["balanced"] for m in manifests.values())
    assert sorted(urls(out)) == rows
    ids = duckdb.sql(f"SELECT article_id FROM read_parquet('{out}/articles/*/*.parquet')").fetchall()
    assert len(ids) == len(set(ids)) == articles
    assert not (out / "_temporary").exists(), "temporary files left after the second run"


def test_a_live_runs_staging_folder_is_left_alone(sample_site, tmp_path):
    """A staging folder whose owner process is alive (a run in progress) is not 'abandoned'."""
    from pipeline import commit
    from pipeline.manifest import write_manifest

    out = tmp_path / "out"
    commit.claim(str(out), "busy-run")  # owned by this (live) process
    assert commit.recover(str(out), write_manifest) == {"rolled_forward": [], "abandoned": []}
    assert (out / "_temporary" / "busy-run").exists()


def test_the_commit_moves_only_the_files_the_succeeded_bundles_listed(tmp_path):
    from pipeline import commit

    data = tmp_path / "_temporary" / "r1" / "data" / "articles" / "published_date=2020-01-07"
    data.mkdir(parents=True)
    (data / "r1-good-00000.parquet").write_bytes(b"listed")
    (data / "r1-failedattempt-00000.parquet").write_bytes(b"a failed attempt's file")
    with pytest.raises(RuntimeError, match="no list of its data files"):
        commit.plan(str(tmp_path), "r1")
    (tmp_path / "_temporary" / "r1" / commit.WRITTEN).write_text(json.dumps([str(data / "r1-good-00000.parquet")]))
    moves = commit.plan(str(tmp_path), "r1")
    assert moves == [(str(data / "r1-good-00000.parquet"),
                      str(tmp_path / "articles" / "published_date=2020-01-07" / "r1-good-00000.parquet"))]


def test_a_finished_runs_balance_is_its_own_count_not_the_runners_metrics(tmp_path):
    """The manifest of a batch run takes its balance from ``_COUNTS.json`` (written by the
    pipeline, ``commit.RecordCounts``), keeping the metrics' figure beside it."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline import commit
    from pipeline.cli import _manifest

    staging = tmp_path / "_temporary" / "r1"
    staging.mkdir(parents=True)
    assert commit.read_counts(str(tmp_path), "r1") is None
    (staging / commit.COUNTS).write_text('{"items_in": 8, "arti')  # not JSON: as good as none
    assert commit.read_counts(str(tmp_path), "r1") is None
    counts = {"items_in": 8, "articles": 4, "duplicates": 3, "failed": 1, "feed_failures": 1}
    (staging / commit.COUNTS).write_text(json.dumps(counts))
    read = commit.read_counts(str(tmp_path), "r1")
    assert read == counts
    # Metrics as Prism reported them in a failed CI run: one bundle's article rows lost.
    metrics = {"feed_parse": {"items": 8}, "write": {"articles_rows": 2, "duplicates_rows": 3,
                                                     "failures_item_error": 1}}
    options = PipelineOptions([])
    manifest = _manifest(options, "r1", metrics, "DONE", "2026-11-29T10:00:00+00:00", time.monotonic(), [], {}, read)
    assert manifest["conservation"] == {"items_in": 8, "articles": 4, "duplicates": 3, "dropped": 0, "failed": 1,
                                        "accounted": 8, "balanced": True}
    assert manifest["conservation_source"] == "run's counts"
    assert manifest["conservation_from_metrics"]["articles"] == 2
    assert not manifest["conservation_from_metrics"]["balanced"]
    assert manifest["counted"]["feed_failures"] == 1

    # A run that did not finish has no counts: the metrics' balance, and why.
    failed = _manifest(options, "r1", metrics, "FAILED", "2026-11-29T10:00:00+00:00", time.monotonic(), [], {})
    assert failed["conservation"] == failed["conservation_from_metrics"]
    assert failed["conservation_source"] == "runner metrics (the run ended FAILED)"
    assert "counted" not in failed
