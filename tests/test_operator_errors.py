"""What the person at the keyboard can get wrong (issue 16): each case is a real `newsbeam`
process under a timeout (the hang guard), asserting its exit status, its one-line message
on stderr (no traceback) and that OUT did not change."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, RUNNER, SAMPLES

from pipeline.demo import materialise_feed_list

pytestmark = pytest.mark.e2e

TIMEOUT = 180  # no case may hang: every one ends well within this
# Pinned where the runner is not what is tested; runs that are interrupted, or that race for
# the lock, keep the default runner and its worker processes (what an operator starts).
PINNED = f"--runner={RUNNER}"


def newsbeam(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _lines(stderr: str) -> list[str]:
    # Beam prints one warning of its own at import on some set-ups; it is not ours to count.
    return [line for line in stderr.splitlines() if line.strip() and "apitools not found" not in line]


def _tree(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    return sorted((p.relative_to(path).as_posix(), p.stat().st_size) for p in path.rglob("*"))


@pytest.fixture()
def feed(sample_site, tmp_path) -> Path:
    path = tmp_path / "feeds.txt"
    path.write_text(sample_site.url("iranpress/rss.xml") + "\n")
    return path


def _write(path: Path, data) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def _yaml_with_string_enabled(feed: Path, folder: Path) -> Path:
    url = feed.read_text().strip()
    return _write(folder / "feeds.yaml", f'feeds:\n  - url: {url}\n    enabled: "false"\n')


# (id, extra args given the fixtures, the message's pattern)
USAGE_CASES = [
    ("concurrency 0", lambda f, t: [f"--feeds={f}", "--per_host_concurrency=0"],
     r"--per_host_concurrency 0: must be a whole number >= 1"),
    ("fetch threads 0", lambda f, t: [f"--feeds={f}", "--fetch_threads=0"], r"--fetch_threads 0: must be"),
    ("negative timeout", lambda f, t: [f"--feeds={f}", "--fetch_timeout=-1"], r"--fetch_timeout -1: must be .* > 0"),
    ("zero body", lambda f, t: [f"--feeds={f}", "--max_body_bytes=0"], r"--max_body_bytes 0: must be"),
    ("threshold above 1", lambda f, t: [f"--feeds={f}", "--dedup_threshold=1.5"],
     r"--dedup_threshold 1.5: must be a similarity in \(0, 1\]"),
    ("unknown runner", lambda f, t: [f"--feeds={f}", "--runner=FlinkRuner"],
     r"--runner FlinkRuner: not a Beam runner; did you mean FlinkRunner\?"),
    ("unknown flag", lambda f, t: [f"--feeds={f}", "--feedz=x"], r"unknown flag --feedz; did you mean --feeds\?"),
    ("missing feed list", lambda f, t: [f"--feeds={t / 'nope.txt'}"], r"--feeds .*nope\.txt: no such file"),
    ("feed list is a folder", lambda f, t: [f"--feeds={t}"], r"--feeds .*: not a file"),
    ("empty feed list", lambda f, t: [f"--feeds={_write(t / 'empty.txt', '')}"],
     r"no usable feed \(it lists no feed\); .*--allow_empty"),
    ("binary feed list", lambda f, t: [f"--feeds={_write(t / 'bin.txt', bytes(range(256)) * 40)}"],
     r"a binary file, not a feed list"),
    ("junk lines", lambda f, t: [f"--feeds={_write(t / 'junk.txt', chr(10).join(f'junk {i}' for i in range(10000)))}"],
     r"no usable feed \(10000 entries are not http\(s\) feed URLs\)"),
    ("non-XML OPML", lambda f, t: [f"--feeds={_write(t / 'list.opml', 'this is not xml at all')}"],
     r"--feeds .*list\.opml: (not a valid opml feed list|no usable feed)"),
    ("YAML enabled as a string", lambda f, t: [f"--feeds={_yaml_with_string_enabled(f, t)}"],
     r"enabled must be true/false, not 'false'"),
    ("missing model", lambda f, t: [f"--feeds={f}", "--ner_model=no_such_model_xyz"],
     r"--ner_model no_such_model_xyz: cannot load it"),
    ("missing output flag", lambda f, t: [f"--feeds={f}", "--output="], r"missing --output"),
]


@pytest.mark.parametrize("case,args,message", USAGE_CASES, ids=[c[0] for c in USAGE_CASES])
def test_usage_errors_are_one_line_exit_2_and_touch_nothing(case, args, message, feed, tmp_path):
    out = tmp_path / "out"
    done = newsbeam("run", f"--output={out}", "--allow_private_hosts", *args(feed, tmp_path))
    lines = _lines(done.stderr)
    assert done.returncode == 2, (case, done.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("newsbeam run: "), lines
    import re

    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not out.exists()  # not even created


@pytest.mark.parametrize("kind", ["a file", "under a file", "unwritable"])
def test_an_output_that_cannot_be_written_is_refused_before_any_fetch(kind, feed, tmp_path, sample_site):
    target = {"a file": tmp_path / "out.txt", "under a file": tmp_path / "out.txt" / "sub",
              "unwritable": Path("/proc/newsbeam-cannot-write-here/out")}[kind]
    (tmp_path / "out.txt").write_text("not a folder")
    before = len(sample_site.requests)
    done = newsbeam("run", f"--feeds={feed}", f"--output={target}", "--allow_private_hosts")
    lines = _lines(done.stderr)
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert {"a file": "is a file, not a directory", "under a file": "is a file, so the directory cannot be created",
            "unwritable": "cannot write there"}[kind] in lines[0]
    assert len(sample_site.requests) == before  # nothing was fetched
    assert (tmp_path / "out.txt").read_text() == "not a folder"


def test_debug_adds_the_traceback(feed, tmp_path):
    done = newsbeam("run", f"--feeds={feed}", f"--output={tmp_path / 'out'}", "--fetch_threads=0", "--debug")
    assert done.returncode == 2 and "Traceback" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("newsbeam run: --fetch_threads 0")


def test_every_feed_failing_exits_3_with_the_feeds_in_the_account(sample_site, tmp_path):
    feeds = _write(tmp_path / "feeds.txt", f"{sample_site.url('gone/rss.xml')}\n{sample_site.url('wire/broken.xml')}\n")
    out = tmp_path / "out"
    done = newsbeam("run", f"--feeds={feeds}", f"--output={out}", "--allow_private_hosts", "--per_host_delay=0",
                    "--run_id=allfail", "--quiet", PINNED)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "feeds 2 = ok 0 + failed 2" in done.stdout
    assert _lines(done.stderr)[-1] == ("newsbeam run: nothing ingested: every feed failed (2 of 2; see failures/ "
                                       "or `newsbeam report`)")
    manifest = json.loads((out / "runs" / "allfail.json").read_text())
    assert manifest["feeds"] == {"listed": 2, "failed": 2, "ok": 0} and manifest["state"] == "DONE"


def test_a_run_with_nothing_new_is_still_exit_0(sample_site, tmp_path):
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", tmp_path)
    out = tmp_path / "out"
    common = [f"--feeds={feeds}", f"--output={out}", "--allow_private_hosts", "--per_host_delay=0", "--quiet",
              PINNED]
    assert newsbeam("run", *common).returncode == 0
    again = newsbeam("run", *common)  # every feed answers 304: nothing to do is not an error
    assert again.returncode == 0 and "feeds 4 = ok 4 + failed 0" in again.stdout, again.stderr[-2000:]


ODD = "out [1] 'q' \"d\" $x *? é"


def test_paths_with_brackets_quotes_and_wildcards_are_data(sample_site, tmp_path):
    """OUT and the feed list under names a glob or SQL would misread: the state is committed
    (the second run is incremental), and summary and report read it back."""
    folder = tmp_path / ODD
    folder.mkdir()
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", folder)
    out = folder / "data [x]"
    common = [f"--feeds={feeds}", f"--output={out}", "--allow_private_hosts", "--per_host_delay=0", "--quiet",
              PINNED]
    first = newsbeam("run", *common, "--run_id=one")
    assert first.returncode == 0, first.stderr[-2000:]
    assert sorted(p.parent.name for p in (out / "state").rglob("*.parquet")) == ["dedup", "feeds", "seen", "stories"]
    second = newsbeam("run", *common, "--run_id=two")
    assert second.returncode == 0, second.stderr[-2000:]
    manifest = json.loads((out / "runs" / "two.json").read_text())
    assert manifest["stages"]["feed_fetch"]["not_modified"] == 4  # the first run's feed state was committed
    summary = newsbeam("summary", str(out), "--run_id=one")
    assert summary.returncode == 0 and "Shamkhani" in summary.stdout, summary.stderr[-2000:]
    assert newsbeam("report", str(out)).returncode == 0
    assert (out / "reports" / "two.html").is_file()


def test_two_runs_at_once_on_one_output_one_refuses(sample_site, tmp_path):
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", tmp_path)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "pipeline", "run", f"--feeds={feeds}", f"--output={out}", "--allow_private_hosts",
            "--per_host_delay=0.8", "--quiet"]
    first = subprocess.Popen([*args, "--run_id=first"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "_LOCK.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = newsbeam("run", *args[4:], "--run_id=second")
    finally:
        stdout, stderr = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 0, stderr[-2000:]
    assert second.returncode == 4, second.stderr[-2000:]
    lines = _lines(second.stderr)
    assert len(lines) == 1 and "is being written by run first" in lines[0], lines
    assert not (out / "runs" / "second.json").exists() and not (out / "_LOCK.json").exists()
    import duckdb

    ids = duckdb.connect().execute("SELECT article_id FROM read_parquet(?)",
                                   [[str(p) for p in (out / "articles").rglob("*.parquet")]]).fetchall()
    assert len(ids) == len(set(ids)) == 4  # every article once


def test_a_stale_lock_of_a_dead_process_is_taken_over(feed, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    (out / "_LOCK.json").write_text(json.dumps({"run_id": "ghost", "host": socket.gethostname(), "pid": dead.pid,
                                                "started_at": "2026-01-01T00:00:00+00:00", "heartbeat": time.time(),
                                                "token": "x"}))
    done = newsbeam("run", f"--feeds={feed}", f"--output={out}", "--allow_private_hosts", "--per_host_delay=0",
                    "--quiet", PINNED)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "taking over the stale lock of run ghost" in done.stderr
    assert not (out / "_LOCK.json").exists()


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_run_says_so_exits_130_and_commits_nothing(how, sample_site, tmp_path):
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", tmp_path)
    out = tmp_path / "out"
    before = len(sample_site.requests)
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", f"--feeds={feeds}", f"--output={out}",
                             "--allow_private_hosts", "--per_host_delay=1.0", "--quiet", "--run_id=stopped"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while len(sample_site.requests) < before + 3 and time.monotonic() < deadline:  # fetching has begun
        time.sleep(0.05)
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole foreground group
    else:
        proc.send_signal(signal.SIGTERM)  # what cron, systemd and Airflow do: the launcher only
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert _lines(stderr)[-1] == "newsbeam run: interrupted; nothing committed (the state is as it was)"
    assert "Traceback" not in stderr
    visible = [p for p in out.rglob("*.parquet")] if out.exists() else []
    assert visible == []  # no data file, no state file
    assert not (out / "_temporary").exists() and not (out / "_LOCK.json").exists()
    assert json.loads((out / "runs" / "stopped.json").read_text())["state"] == "INTERRUPTED"


def test_a_damaged_state_file_is_named_and_doctor_repairs_it(sample_site, tmp_path):
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", tmp_path)
    out = tmp_path / "out"
    common = [f"--feeds={feeds}", f"--output={out}", "--allow_private_hosts", "--per_host_delay=0", "--quiet",
              PINNED]
    assert newsbeam("run", *common, "--run_id=one").returncode == 0
    [seen] = (out / "state" / "seen").glob("*.parquet")
    seen.write_bytes(seen.read_bytes()[:100])  # truncated
    tree = _tree(out)
    refused = newsbeam("run", *common, "--run_id=two")
    lines = _lines(refused.stderr)
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr[-2000:]
    assert f"unreadable state file {seen}" in lines[0] and "newsbeam doctor" in lines[0] and "--repair" in lines[0]
    assert _tree(out) == tree  # refused before it changed anything
    check = newsbeam("doctor", str(out))
    assert check.returncode == 1 and "unreadable state/seen/" in check.stdout
    assert "may be fetched and ingested again" in check.stdout and _tree(out) == tree
    repair = newsbeam("doctor", str(out), "--repair")
    assert repair.returncode == 0 and f"moved state/seen/{seen.name} -> _quarantine/state/seen/{seen.name}" \
        in repair.stdout
    assert (out / "_quarantine" / "state" / "seen" / seen.name).is_file() and not seen.exists()
    assert newsbeam("doctor", str(out)).returncode == 0
    again = newsbeam("run", *common, "--run_id=three")
    assert again.returncode == 0, again.stderr[-2000:]
