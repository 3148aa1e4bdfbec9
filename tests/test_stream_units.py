"""Stream helpers without a runner: window numbering, file names, window balance, the stop
marker, the loopback feed that grows."""

from __future__ import annotations

import datetime as dt
import urllib.request

import pytest
from apache_beam.transforms.window import GlobalWindow, IntervalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import PaneInfo, PaneInfoTiming
from conftest import SAMPLES

from pipeline.graph import StreamEnds
from pipeline.loopback import GrowingFeedSite
from schemas.elements import DROP, ERROR, UNIT_FEED, WARNING, Failure
from transforms.poll_ticks import _stop_requested
from transforms.window_records import _failure_kind, window_balance
from transforms.write_dataset import file_prefix


def test_poll_windows_end_just_after_each_poll():
    ends = StreamEnds(poll_interval=5, window=60, first_tick=1000.25, max_polls=None, stop_marker=None)
    memory = ends.memory()
    for i in range(4):
        tick = Timestamp(1000.25 + 5 * i)
        (win,) = memory.windows().assign(type("Ctx", (), {"timestamp": tick})())
        assert win.start < tick < win.end <= tick + 0.002  # closes right after its poll
        assert memory.window_no(tick) == memory.window_no(Timestamp(1000.25)) + i


def test_file_names_carry_window_and_pane_in_a_stream_only():
    pane = PaneInfo(False, False, PaneInfoTiming.LATE, 2, 1)
    assert file_prefix("run1", GlobalWindow(), pane) == "run1"
    start = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc).timestamp()
    window = IntervalWindow(Timestamp(start), Timestamp(start + 60))
    assert file_prefix("s1", window, pane) == "s1-20260102T030405-p2"  # the window's start, in UTC


def test_window_balance_counts_every_ending():
    counts = {"items_in": 7, "articles": 3, "duplicates": 2, "dropped": 1, "failed": 1, "feed_failures": 4}
    assert window_balance(counts)["balanced"]
    assert not window_balance({**counts, "items_in": 8})["balanced"]


def test_only_item_failures_count_in_the_balance():
    def failure(severity, unit="item"):
        return Failure.of("fetch", "http://x/", "E", severity=severity, unit=unit)

    assert [_failure_kind(failure(s)) for s in (ERROR, DROP, WARNING)] == ["failed", "dropped", "warnings"]
    assert _failure_kind(failure(ERROR, UNIT_FEED)) == "feed_failures"


def test_stop_marker(tmp_path):
    marker = tmp_path / "STOP"
    assert not _stop_requested(str(marker)) and not _stop_requested(None)
    marker.write_text("drain")
    assert _stop_requested(str(marker))


def test_growing_feed_lists_what_was_published():
    with GrowingFeedSite(SAMPLES / "site", ["observer/news/snow-closes-roads.html", "missing.html"]) as site:
        def feed() -> bytes:
            return urllib.request.urlopen(site.feed_url, timeout=5).read()

        assert b"<item>" not in feed()
        assert site.publish() and site.publish() and not site.publish()
        body = feed()
        assert body.count(b"<item>") == 2 and site.url("missing.html").encode() in body
        assert set(site.appeared) == {site.url("observer/news/snow-closes-roads.html"), site.url("missing.html")}


@pytest.mark.parametrize("flag", ["--poll_interval=0", "--window=-5", "--max_polls=0", "--early_delay=0"])
def test_bad_stream_options_stop_before_anything_starts(tmp_path, flag):
    from pipeline.stream import stream
    from pipeline.validate import UsageError

    out = tmp_path / "out"
    with pytest.raises(UsageError, match=f"^{flag.replace('=', ' ')}: must be "):
        stream([f"--feeds={tmp_path / 'feeds.txt'}", f"--output={out}", flag])
    assert not out.exists()
