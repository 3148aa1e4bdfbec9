"""OUT on object storage: the pipeline against an S3-compatible server on loopback (moto in
server mode), read back with pyarrow's S3 filesystem and DuckDB, then a second,
incremental run that reads the state it left there. Nothing assumes local disk."""

from __future__ import annotations

import json

import duckdb
import pytest
from conftest import RUNNER, SAMPLES

from pipeline.cli import run
from pipeline.demo import materialise_feed_list

moto_server = pytest.importorskip("moto.server", reason="moto[server] is in the test extras")
boto3 = pytest.importorskip("boto3")
pafs = pytest.importorskip("pyarrow.fs")
pads = pytest.importorskip("pyarrow.dataset")

KEY, SECRET, REGION, BUCKET = "testing", "testing-secret", "us-east-1", "news"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                 region_name=REGION).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def _read(endpoint: str, table: str):
    fs = pafs.S3FileSystem(access_key=KEY, secret_key=SECRET, region=REGION, scheme="http",
                           endpoint_override=endpoint.removeprefix("http://"))
    return pads.dataset(f"{BUCKET}/out/{table}", filesystem=fs, format="parquet", partitioning="hive").to_table()


@pytest.fixture(scope="module")
def two_runs(sample_site, s3_endpoint, tmp_path_factory):
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.opml", tmp_path_factory.mktemp("s3feeds"))
    flags = [f"--feeds={feeds}", f"--output=s3://{BUCKET}/out", "--allow_private_hosts", f"--runner={RUNNER}",
             f"--s3_endpoint_url={s3_endpoint}", f"--s3_access_key_id={KEY}", f"--s3_secret_access_key={SECRET}",
             f"--s3_region_name={REGION}"]
    return run([*flags, "--run_id=first"]), run([*flags, "--run_id=second"])


def test_the_dataset_is_written_to_and_read_back_from_s3(two_runs, s3_endpoint):
    first, _ = two_runs
    assert first.manifest["state"] == "DONE" and first.manifest["conservation"]["balanced"]
    con = duckdb.connect()
    for table in ("articles", "entities"):
        con.register(table, _read(s3_endpoint, table))
    counts = con.sql("SELECT count(*), count(DISTINCT published_date) FROM articles").fetchall()[0]
    assert counts == (first.manifest["conservation"]["articles"], 2) and counts[0] > 0
    assert con.sql("SELECT count(DISTINCT article_id) FROM entities").fetchall()[0][0] == counts[0]
    failures = _read(s3_endpoint, "failures")
    assert failures.num_rows == first.manifest["stages"]["write"]["failures_rows"]


def test_state_and_manifests_live_in_the_bucket(two_runs, s3_endpoint):
    first, second = two_runs
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                      region_name=REGION)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")["Contents"]}
    assert {f"out/state/{t}/first-00000.parquet" for t in ("feeds", "seen", "dedup")} <= keys
    assert not [k for k in keys if "/_temporary/" in k]  # staging cleaned up
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key="out/runs/first.json")["Body"].read())
    assert manifest["run_id"] == "first" and manifest["state_files"] == first.manifest["state_files"]
    assert SECRET not in json.dumps(manifest)  # credentials never reach the manifest
    assert second.manifest_path == f"s3://{BUCKET}/out/runs/second.json"


def test_a_second_run_reads_the_state_from_s3_and_is_incremental(two_runs, s3_endpoint):
    first, second = two_runs
    assert second.manifest["state"] == "DONE" and second.manifest["conservation"]["balanced"]
    feeds = second.manifest["stages"]["feed_fetch"]
    # Every feed answered 304 to the validators the first run stored in s3://.../state/feeds.
    assert feeds.get("not_modified") == first.manifest["stages"]["feed_fetch"]["received"] > 0
    assert second.manifest["conservation"]["items_in"] == 0
    assert _read(s3_endpoint, "articles").num_rows == first.manifest["conservation"]["articles"]


def test_a_run_killed_between_data_and_state_is_completed_by_the_next_on_s3(sample_site, s3_endpoint, tmp_path):
    """The job commit on an object store: killed after its commit point, rolled forward."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.opml", tmp_path)
    flags = [f"--feeds={feeds}", f"--output=s3://{BUCKET}/crash", "--allow_private_hosts", f"--runner={RUNNER}",
             f"--s3_endpoint_url={s3_endpoint}", f"--s3_access_key_id={KEY}", f"--s3_secret_access_key={SECRET}",
             f"--s3_region_name={REGION}"]
    killed = subprocess.run([sys.executable, "-m", "pipeline", "run", *flags, "--run_id=killed"], cwd=ROOT,
                            env={**os.environ, "NEWSBEAM_CRASH_AT": "between_data_and_state"},
                            capture_output=True, text=True, timeout=300, start_new_session=True)
    assert killed.returncode == -9, killed.stderr[-3000:]
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                      region_name=REGION)

    def keys():
        return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="crash/").get("Contents", [])}

    assert "crash/_temporary/killed/_COMMIT.json" in keys() and not [k for k in keys() if k.startswith("crash/state/")]
    after = run([*flags, "--run_id=after"])
    assert after.manifest["recovered"] == {"rolled_forward": ["killed"], "abandoned": []}
    assert {f"crash/state/{t}/killed-00000.parquet" for t in ("feeds", "seen", "dedup")} <= keys()
    assert not [k for k in keys() if "/_temporary/" in k]
    rolled = json.loads(s3.get_object(Bucket=BUCKET, Key="crash/runs/killed.json")["Body"].read())
    assert rolled["rolled_forward"] and rolled["conservation"]["balanced"]
    assert after.manifest["conservation"]["items_in"] == 0  # the feeds answer 304: nothing counted twice


def test_the_default_runners_worker_processes_write_to_s3_too(sample_site, s3_endpoint, tmp_path):
    """No --runner: the FnApiRunner's worker processes get the pipeline's options (Beam gives
    them none), so they reach the S3 endpoint given on the command line."""
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.opml", tmp_path)
    outcome = run([f"--feeds={feeds}", f"--output=s3://{BUCKET}/default", "--allow_private_hosts",
                   f"--s3_endpoint_url={s3_endpoint}", f"--s3_access_key_id={KEY}", f"--s3_secret_access_key={SECRET}",
                   f"--s3_region_name={REGION}", "--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    balance = outcome.manifest["conservation"]
    assert outcome.manifest["state"] == "DONE" and balance["balanced"] and balance["articles"] > 0
    fs = pafs.S3FileSystem(access_key=KEY, secret_key=SECRET, region=REGION, scheme="http",
                           endpoint_override=s3_endpoint.removeprefix("http://"))
    table = pads.dataset(f"{BUCKET}/default/articles", filesystem=fs, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == balance["articles"]


def test_the_report_of_a_run_is_read_from_s3(two_runs, s3_endpoint, tmp_path):
    """A fresh process (no file system options left over from the runs) reports the first
    run from the bucket, given the same S3 flags as `newsbeam run`."""
    import subprocess
    import sys

    from conftest import ROOT

    lxml_html = pytest.importorskip("lxml.html")
    first, _ = two_runs
    page = tmp_path / "first.html"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "report", f"s3://{BUCKET}/out", "--run_id=first", f"--html={page}",
         f"--s3_endpoint_url={s3_endpoint}", f"--s3_access_key_id={KEY}", f"--s3_secret_access_key={SECRET}",
         f"--s3_region_name={REGION}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    dom = lxml_html.fromstring(page.read_text(encoding="utf-8"))
    counts = first.manifest["conservation"]
    funnel = dom.xpath("//section[@id='funnel']")[0]
    assert [funnel.get("data-articles"), funnel.get("data-duplicates")] == [str(counts["articles"]),
                                                                           str(counts["duplicates"])]
    shown = sum(int(r[1].text_content()) for r in dom.xpath("//section[@id='sources']//table//tbody/tr"))
    assert shown == counts["articles"] > 0  # rows read from the bucket, not only the manifest


def test_file_operations_share_one_s3_client_per_process(s3_endpoint):
    """Beam's S3 filesystem builds a boto3 client per operation (a JSON model load each,
    most of a run's time on S3); transforms._s3 makes them share one."""
    from apache_beam.io.aws.clients.s3 import boto3_client
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from transforms import _files  # noqa: F401 (installs the shared clients, as every OUT user does)
    from transforms._s3 import clients_built

    options = PipelineOptions(s3_endpoint_url=s3_endpoint, s3_access_key_id=KEY, s3_secret_access_key=SECRET,
                              s3_region_name=REGION)
    FileSystems.set_options(options)
    before = clients_built()
    path = f"s3://{BUCKET}/shared-client/probe.txt"
    with FileSystems.create(path) as f:
        f.write(b"x")
    for _ in range(20):
        assert FileSystems.exists(path)
    assert [m.path for m in FileSystems.match([f"s3://{BUCKET}/shared-client/*"])[0].metadata_list] == [path]
    FileSystems.delete([path])
    assert not FileSystems.exists(path)
    assert clients_built() - before <= 1  # one client for these settings, whatever the operations
    one, two = boto3_client.Client(options), boto3_client.Client(options)
    assert one is not two and one.client is two.client  # Beam's wrappers stay per operation
