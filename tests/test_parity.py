"""One pipeline, four runner set-ups: the same fixture site gives the same rows in every table.

(a) the DirectRunner's engine in memory (FnApiRunner), (b) the DirectRunner with
``--direct_running_mode=multi_processing --direct_num_workers=2`` (two SDK worker
processes: everything crosses a process boundary, pickled), and (c) the PortableRunner
against Beam's local job service, started and stopped here, with
``--environment_type=LOOPBACK``, and (d) ``newsbeam run`` with no runner flags at all
(the FnApiRunner with one SDK worker process per core). Run ids and fetch/check
timestamps are ignored.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import duckdb
import pytest
from conftest import ROOT, SAMPLES

from pipeline.cli import local_workers, run
from pipeline.demo import materialise_feed_list

TABLES = ("articles", "duplicates", "entities", "failures", "state/dedup", "state/feeds", "state/seen")
IGNORED = {"run_id", "fetched_at", "at", "indexed_at", "checked_at", "run_date"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def job_service():
    """Beam's local job service on a loopback port, for the PortableRunner."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", f"--port={port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the local job service exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the local job service did not listen within 60 s")
    yield f"localhost:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


RUNNERS = {
    "in_memory": ["--runner=FnApiRunner"],
    "multi_processing": ["--runner=DirectRunner", "--direct_running_mode=multi_processing",
                         "--direct_num_workers=2"],
    "portable": ["--runner=PortableRunner", "--environment_type=LOOPBACK"],
    "default": [],
}


def rows(out, table: str) -> list[tuple]:
    """The table's rows, ignoring run ids and timestamps of this run, in a stable order."""
    source = f"read_parquet('{out}/{table}/**/*.parquet', hive_partitioning = true, union_by_name = true)"
    columns = [c[0] for c in duckdb.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    kept = ", ".join(f'"{c}"' for c in columns if c not in IGNORED)
    return [tuple(map(repr, r)) for r in duckdb.sql(f"SELECT {kept} FROM {source}").fetchall()]


@pytest.fixture(scope="module")
def outputs(sample_site, job_service, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parity")
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.opml", tmp)
    done = {}
    for name, flags in RUNNERS.items():
        flags = [*flags, f"--job_endpoint={job_service}"] if name == "portable" else flags
        out = tmp / name
        outcome = run([f"--feeds={feeds}", f"--output={out}", "--allow_private_hosts", *flags])
        assert outcome.manifest["state"] == "DONE", name
        done[name] = (out, outcome.manifest)
    return done


@pytest.mark.parametrize("table", TABLES)
def test_every_runner_writes_the_same_rows(outputs, table):
    expected = sorted(rows(outputs["in_memory"][0], table))
    assert expected, f"{table} is empty: the comparison would prove nothing"
    for name in ("multi_processing", "portable", "default"):
        assert sorted(rows(outputs[name][0], table)) == expected, f"{table} differs on {name}"


def test_every_runner_accounts_for_every_item(outputs):
    conservation = {name: manifest["conservation"] for name, (_, manifest) in outputs.items()}
    assert all(c["balanced"] for c in conservation.values())
    assert len({tuple(sorted(c.items())) for c in conservation.values()}) == 1, conservation
    # Each run counted its outcomes itself (commit.RecordCounts); every runner's metrics,
    # counted apart by the stages, agree with that count here.
    for name, (_, manifest) in outputs.items():
        assert manifest["conservation_source"] == "run's counts", name
        assert manifest["conservation_from_metrics"] == manifest["conservation"], name


def test_no_runner_flags_means_one_worker_process_per_core(outputs):
    options = outputs["default"][1]["options"]
    cores = local_workers()
    assert options["runner"] == "FnApiRunner"
    assert options.get("direct_num_workers", 1) == cores
    assert options.get("direct_running_mode", "in_memory") == ("multi_processing" if cores > 1 else "in_memory")
    # A runner named on the command line is left as Beam defines it: one worker, in memory.
    assert "direct_num_workers" not in outputs["in_memory"][1]["options"]


@pytest.mark.parametrize("argv, expected", [
    ([], ("FnApiRunner", "cores")),
    (["--direct_num_workers=1"], ("FnApiRunner", 1)),
    (["--runner=DirectRunner"], ("DirectRunner", 1)),
])
def test_every_core_only_fills_in_what_was_not_given(argv, expected):
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    from pipeline.cli import every_core
    from pipeline.options import parse_options

    options = parse_options(argv)
    every_core(options, argv)
    runner, workers = expected
    assert options.view_as(StandardOptions).runner == runner
    assert options.view_as(DirectOptions).direct_num_workers == (local_workers() if workers == "cores" else workers)


def test_freed_memory_goes_back_to_the_system_in_the_worker_processes_too(monkeypatch):
    """The glibc settings reach the processes a run starts (its SDK workers) through the
    environment; a value the user set is theirs."""
    import subprocess
    import sys

    from pipeline.cli import MALLOC_SETTINGS, release_freed_memory

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "")  # so that undoing the test removes what it sets
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "262144")
    in_force = release_freed_memory()
    if not in_force:
        pytest.skip("not glibc")
    assert in_force == {"MALLOC_TRIM_THRESHOLD_": str(MALLOC_SETTINGS["MALLOC_TRIM_THRESHOLD_"]),
                        "MALLOC_MMAP_THRESHOLD_": "262144"}
    seen = subprocess.run([sys.executable, "-c", "import os; print(os.environ['MALLOC_TRIM_THRESHOLD_'], "
                           "os.environ['MALLOC_MMAP_THRESHOLD_'])"], capture_output=True, text=True, check=True)
    assert seen.stdout.split() == [str(MALLOC_SETTINGS["MALLOC_TRIM_THRESHOLD_"]), "262144"]
