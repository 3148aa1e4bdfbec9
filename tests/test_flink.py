"""The same pipeline on a real Flink cluster on loopback (``make flink-up``: a JobManager and
two TaskManagers as separate JVMs, Beam's Flink job server, a pool of Python SDK workers).

Skipped, with the reason, when no cluster answers; ``.ci/run`` starts one. Pipelines are
submitted from the Flink virtualenv (``make flink-venv``: the Beam release of the job
server), as ``newsbeam`` subprocesses, with ``--runner=PortableRunner`` against the job
server and ``--environment_type=EXTERNAL`` against the worker pool; the reference runs use
the FnApiRunner in this process. Run ids and timestamps aside, every table must hold the
same rows.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES, shared_path
from test_parity import TABLES, rows

from deploy.flink import cluster
from pipeline.cli import run
from pipeline.demo import materialise_feed_list
from pipeline.loopback import LoopbackSite

FLINK_PYTHON = cluster.FLINK_VENV / "bin" / "python"


pytestmark = pytest.mark.skipif(cluster.not_ready() is not None, reason=str(cluster.not_ready()))


@pytest.fixture(autouse=True, scope="module")
def no_job_left_behind():
    """A launcher that timed out leaves its job running on the cluster: cancel it."""
    yield
    cluster.cancel_jobs()


def newsbeam_on_flink(command: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(FLINK_PYTHON), "-m", "pipeline", command, *args, *cluster.submit_options()],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"newsbeam {command} on Flink failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return proc


def manifest_of(out) -> dict:
    (path,) = (out / "runs").glob("*.json")
    return json.loads(path.read_text())


def both_runners(feeds, tmp, *extra: str) -> dict:
    """{runner: (OUT, manifest)} for the FnApiRunner here and Flink."""
    local = run([f"--feeds={feeds}", f"--output={tmp / 'local'}", "--runner=FnApiRunner",
                 "--allow_private_hosts", *extra])
    assert local.manifest["state"] == "DONE"
    newsbeam_on_flink("run", f"--feeds={feeds}", f"--output={tmp / 'flink'}", "--allow_private_hosts", *extra)
    return {"local": (tmp / "local", local.manifest), "flink": (tmp / "flink", manifest_of(tmp / "flink"))}


@pytest.fixture(scope="module")
def sample_outputs(sample_site, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flink-sample")
    return both_runners(materialise_feed_list(sample_site, SAMPLES / "feeds.opml", tmp), tmp)


@pytest.mark.parametrize("table", TABLES)
def test_flink_writes_the_same_rows_as_the_local_runner(sample_outputs, table):
    expected = sorted(rows(sample_outputs["local"][0], table))
    assert expected, f"{table} is empty: the comparison would prove nothing"
    assert sorted(rows(sample_outputs["flink"][0], table)) == expected


def test_flink_run_has_a_balanced_manifest_and_committed_state(sample_outputs):
    out, manifest = sample_outputs["flink"]
    local = sample_outputs["local"][1]
    assert manifest["state"] == "DONE"
    assert manifest["conservation"]["balanced"], manifest["conservation"]
    assert manifest["conservation"] == local["conservation"]
    # Counted by the run itself on the cluster (commit.RecordCounts), and Flink's metrics agree.
    assert manifest["conservation_source"] == "run's counts"
    assert manifest["conservation_from_metrics"] == manifest["conservation"]
    assert manifest["versions"]["apache-beam"] == cluster.BEAM_JAVA_VERSION  # the job server's release
    assert manifest["state_files"], "no state committed"
    assert not list(out.rglob("_temporary/*")), "staging left behind"


def test_flink_matches_the_local_runner_on_the_extraction_corpus(tmp_path):
    """The 181 real pages of the extraction benchmark, served on loopback, one feed each."""
    from benchmarks.e2e import build_site

    data = shared_path("data")
    feeds = build_site(data, tmp_path / "site", 4)
    with LoopbackSite(tmp_path / "site") as site:
        listing = tmp_path / "feeds.txt"
        listing.write_text("".join(f"{site.url(f)}\n" for f in feeds))
        outputs = both_runners(listing, tmp_path, "--per_host_delay=0")
    for table in ("articles", "duplicates", "entities", "failures"):
        if not (tmp_path / "local" / table).exists():
            assert not (tmp_path / "flink" / table).exists()
            continue
        expected = sorted(rows(outputs["local"][0], table))
        assert sorted(rows(outputs["flink"][0], table)) == expected, f"{table} differs on Flink"
    assert outputs["flink"][1]["conservation"] == outputs["local"][1]["conservation"]
    assert outputs["flink"][1]["conservation"]["items_in"] == 181


ITEMS = ["iranpress/2020/01/07/shamkhani-khamis-meeting.html", "observer/news/syrian-delegation-tehran.html",
         "iranpress/2020/01/08/tram-line-approved.html", "observer/news/snow-closes-roads.html"]


def checkpoints(job: str) -> dict:
    """Flink's checkpoint counts of a job: completed, failed, restored..."""
    return cluster.rest(f"/jobs/{job}/checkpoints")["counts"]


def rows_of(out) -> list[str]:
    """The URL of every row in articles/, duplicates/ and failures/ so far."""
    import duckdb

    files = [str(p) for table in ("articles", "duplicates", "failures") for p in out.glob(f"{table}/*/*.parquet")]
    if not files:
        return []
    return [u for (u,) in duckdb.sql(f"SELECT url FROM read_parquet({files!r}, union_by_name=true)").fetchall()]


def stream_losing_a_taskmanager(tmp_path, after_checkpoint: bool) -> tuple[str, Path, list[str]]:
    """newsbeam stream on the cluster with checkpoints every 3 s; once the first articles are
    written (and, with ``after_checkpoint``, a checkpoint has completed), TaskManager 1 is
    SIGKILLed and a new one started, and two more items are published; the stream is drained
    when every item is in a table. Checks what must hold either way; returns (job id, OUT,
    the item URLs)."""
    import signal
    import time

    import duckdb

    from pipeline.loopback import GrowingFeedSite

    out = tmp_path / "out"
    with GrowingFeedSite(SAMPLES / "site", ITEMS) as site:
        site.publish()
        site.publish()
        feeds = tmp_path / "feeds.txt"
        feeds.write_text(site.feed_url + "\n")
        log = open(tmp_path / "stream.log", "w")
        proc = subprocess.Popen(
            [str(FLINK_PYTHON), "-m", "pipeline", "stream", f"--feeds={feeds}", f"--output={out}",
             "--allow_private_hosts", "--per_host_delay=0", "--poll_interval=5", "--window=10",
             *cluster.submit_options(streaming=False, checkpoint_ms=3000)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while not list(out.glob("articles/*/*.parquet")):
                assert proc.poll() is None, (tmp_path / "stream.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "no article within 180 s"
                time.sleep(1)
            (job,) = [j["jid"] for j in cluster.rest("/jobs/overview")["jobs"] if j["state"] == "RUNNING"]
            while after_checkpoint and not checkpoints(job)["completed"]:
                assert time.monotonic() < deadline + 120, f"no checkpoint completed: {checkpoints(job)}"
                time.sleep(1)
            cluster.main(["kill-tm", "1"])  # a lost worker: SIGKILL, no goodbye
            time.sleep(5)
            cluster.main(["start-tm", "1"])
            site.publish()
            site.publish()
            deadline = time.monotonic() + 240
            while len(rows_of(out)) < len(ITEMS):  # the items published after the loss, too
                assert proc.poll() is None, (tmp_path / "stream.log").read_text()[-3000:]
                assert time.monotonic() < deadline, f"only {rows_of(out)} arrived"
                time.sleep(2)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
            cluster.cancel_jobs()
            cluster.start_taskmanager(1)
    assert proc.returncode == 0, (tmp_path / "stream.log").read_text()[-3000:]
    assert cluster.rest(f"/jobs/{job}/exceptions")["exceptionHistory"]["entries"]  # it did lose a worker
    (manifest,) = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json") if p.stem.count("-") == 1]
    assert manifest["kind"] == "stream" and manifest["drained"] and manifest["conservation"]["balanced"]
    assert sorted(rows_of(out)) == sorted(site.url(p) for p in ITEMS)  # each item once, in one table
    article_ids = duckdb.sql(f"SELECT article_id FROM read_parquet('{out}/articles/*/*.parquet')").fetchall()
    assert len(article_ids) == len(set(article_ids))
    assert not list(out.rglob("_temporary/*/*.parquet")), "a partial file is visible"
    return job, out, [site.url(p) for p in ITEMS]


def test_stream_on_flink_survives_a_lost_taskmanager(tmp_path):
    """A TaskManager lost mid-stream: Flink restarts the job and, after the drain, every item
    is in exactly one table, once (here the job restarts from its start: see the next test)."""
    stream_losing_a_taskmanager(tmp_path, after_checkpoint=False)


@pytest.mark.xfail(run=False, reason=(
    "Periodic checkpoints and closing windows exclude each other for this stream on Beam "
    "2.62's Flink runner. With --shutdown_sources_after_idle_ms (what submit_options uses), "
    "the Impulse feeding PollTicks (a splittable DoFn that defers its remainder until the "
    "next poll) ends, and Beam's ExecutableStageDoFnOperator then loops inside finish() "
    "until the splittable DoFn is done (apache/beam#13105 review), so that subtask never "
    "takes a checkpoint barrier: checkpoint 1 stays IN_PROGRESS for minutes and only the "
    "final checkpoint of a drain completes. Without it, checkpoints complete (111 of 114 in "
    "one 6-minute run) but the finished Impulse readers never pass a final watermark on, "
    "so no window closes: no article within 180 s. A lost TaskManager therefore restarts "
    "the job from its start (the test above: still exactly-once, through the state files "
    "and deterministic file names), not from a checkpoint. Not run in CI: it waits 5 "
    "minutes to show that (run it with --runxfail)"))
def test_stream_on_flink_recovers_from_its_last_checkpoint(tmp_path):
    """As above, but the worker is lost after a checkpoint, and the job comes back from it."""
    job, _, _ = stream_losing_a_taskmanager(tmp_path, after_checkpoint=True)
    assert checkpoints(job)["restored"] >= 1
