"""The progress display: workers' live tallies, the plain line and the live table, and a real
run on a slow loopback site whose progress lines grow while it works."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter

import pytest
from conftest import ROOT, SAMPLES

from pipeline.demo import materialise_feed_list
from pipeline.progress import NOT_REPORTED, ROWS, ProgressDisplay, progress_rows
from transforms import _progress
from transforms._progress import PROGRESS_ENV, read_tallies

LINE = re.compile(r"^newsbeam run (\S+): (\d+):(\d\d):(\d\d) elapsed \| (.*)$")


def _parse(line: str) -> dict[str, int]:
    match = LINE.match(line)
    assert match, line
    counts = {}
    for part in match.group(5).split(" | "):
        if part == NOT_REPORTED:
            continue
        label, count = re.match(r"^(.*?) (\d+)(?: \(.*\))?$", part).groups()
        counts[label] = int(count)
    return counts


def test_rows_sum_the_counters_each_label_names():
    tallies = Counter({"fetch/received": 5, "dedup/dropped_exact_text": 2, "dedup/dropped_near_text": 1,
                       "fetch/dropped_same_url": 1, "write/failures_item_error": 3, "write/articles_rows": 9})
    rows = dict(progress_rows(tallies))
    assert rows["pages fetched"] == 5 and rows["duplicates"] == 4 and rows["failures, drops, warnings"] == 3
    assert rows["entities tagged"] == 0 and list(rows) == [label for label, _ in ROWS]


def test_tallies_of_several_processes_are_summed(tmp_path):
    (tmp_path / "a-1.json").write_text(json.dumps({"fetch/received": 3}))
    (tmp_path / "b-2.json").write_text(json.dumps({"fetch/received": 4, "feed_parse/items": 7}))
    (tmp_path / "c-3.json.tmp").write_text("{half")  # being replaced: not read
    assert read_tallies(str(tmp_path)) == Counter({"fetch/received": 7, "feed_parse/items": 7})
    assert read_tallies(str(tmp_path / "gone")) == Counter()


def test_the_plain_display_shows_growing_counts_and_cleans_up(monkeypatch):
    monkeypatch.setattr(_progress, "FLUSH_SECONDS", 0.05)
    out = io.StringIO()
    fetched = _progress.counter("fetch", "received")
    with ProgressDisplay("run t", interval=0.3, stream=out):
        folder = os.environ[PROGRESS_ENV]
        for _ in range(4):
            fetched.inc(5)
            time.sleep(0.4)
    assert PROGRESS_ENV not in os.environ and not os.path.exists(folder)
    counts = [_parse(line)["pages fetched"] for line in out.getvalue().splitlines()]
    assert len(counts) >= 3 and counts == sorted(counts) and counts[-1] == 20 > counts[0]


def test_before_any_worker_reports_the_line_says_so():
    out = io.StringIO()
    with ProgressDisplay("run n", interval=0.1, stream=out):
        time.sleep(0.35)
    lines = out.getvalue().splitlines()
    assert lines and all(line.endswith(NOT_REPORTED) for line in lines)
    assert all(count == 0 for count in _parse(lines[-1]).values())


def test_quiet_shows_nothing_and_leaves_the_environment_alone():
    out = io.StringIO()
    with ProgressDisplay("run q", interval=0.05, quiet=True, stream=out):
        assert PROGRESS_ENV not in os.environ
        time.sleep(0.2)
    assert out.getvalue() == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_it_is_a_live_table(monkeypatch):
    monkeypatch.setattr(_progress, "FLUSH_SECONDS", 0.05)
    out = _Terminal()
    with ProgressDisplay("run tty", interval=0.2, stream=out):
        _progress.counter("feed_parse", "items").inc(12)
        time.sleep(0.6)
    text = out.getvalue()
    assert "newsbeam run tty" in text and "items found" in text and "12" in text
    assert "\x1b[" in text  # redrawn in place (cursor movement), not printed line after line


@pytest.mark.e2e
def test_a_run_prints_growing_progress_lines(sample_site, tmp_path):
    """A slow site (0.7 s between two requests to the host) and a 1 s interval: the plain
    lines on stderr grow and end at the manifest's counts."""
    feeds = materialise_feed_list(sample_site, SAMPLES / "feeds.txt", tmp_path)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", f"--feeds={feeds}", f"--output={out}", "--allow_private_hosts",
         "--per_host_delay=0.7", "--progress_interval=1", "--run_id=slow"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [_parse(line) for line in done.stderr.splitlines() if line.startswith("newsbeam run slow:")]
    assert len(lines) >= 2, done.stderr[-3000:]
    for label, _ in ROWS:
        series = [line[label] for line in lines]
        assert series == sorted(series), (label, series)
    assert any(lines[0][label] < lines[-1][label] for label, _ in ROWS), lines
    manifest = json.loads((out / "runs" / "slow.json").read_text())
    assert lines[-1]["pages fetched"] == manifest["stages"]["fetch"]["received"] == 7
    assert lines[-1]["items found"] == manifest["stages"]["feed_parse"]["items"]
    assert all(line["entities tagged"] <= manifest["stages"]["entities"]["emitted"] for line in lines)
    assert done.stdout.splitlines()[-1].endswith("balanced")  # stdout unchanged
