"""Stream helpers without a runner: window numbering, file names, window balance, the stop
marker, the loopback feed that grows."""

from __future__ import annotations

import datetime as dt
import json
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


def _record(root, stream_id: str, start: str, counts: dict, written_at: str, pane: int = 0) -> None:
    runs = root / "runs"
    runs.mkdir(exist_ok=True)
    suffix = f"-late{pane}" if pane else ""
    record = {"run_id": f"{stream_id}-{start}{suffix}", "stream_id": stream_id, "kind": "window",
              "window_start": start, "pane": pane, "written_at": written_at, "counts": counts,
              "conservation": window_balance(counts)}
    (runs / f"{record['run_id']}.json").write_text(json.dumps(record))


def test_a_streams_balance_adds_up_its_own_window_records_only(tmp_path):
    from transforms.window_records import read_window_records, stream_balance

    today = "2026-11-29T10:00:00+00:00"
    _record(tmp_path, "s1", "20261129T100000", {"items_in": 3, "articles": 2}, today)
    _record(tmp_path, "s1", "20261129T100000", {"articles": 1}, today, pane=1)  # a late record
    _record(tmp_path, "s1", "20261129T100002", {"items_in": 2, "duplicates": 1, "failed": 1}, today)
    _record(tmp_path, "s1-b", "20261129T100000", {"items_in": 9}, today)  # another stream, same prefix
    _record(tmp_path, "s1", "20261128T100000", {"items_in": 5}, "2026-11-28T10:00:00+00:00")  # s1 yesterday
    (tmp_path / "runs" / "s1.json").write_text(json.dumps({"run_id": "s1", "kind": "stream"}))
    records = read_window_records(str(tmp_path), "s1", since="2026-11-29T09:00:00+00:00")
    assert [(r["window_start"], r["pane"]) for r in records] == [
        ("20261129T100000", 0), ("20261129T100000", 1), ("20261129T100002", 0)]
    balance = stream_balance(records)
    assert (balance["items_in"], balance["articles"], balance["duplicates"], balance["failed"]) == (5, 3, 1, 1)
    assert balance["balanced"]
    assert len(read_window_records(str(tmp_path), "s1")) == 4  # without `since`: yesterday's too
    assert stream_balance([]) is None


def test_a_streams_manifest_takes_its_balance_from_the_records_and_says_when_metrics_differ(tmp_path, capsys):
    from pipeline.manifest import conservation
    from pipeline.stream import _balance_from_records

    now = "2026-11-29T10:00:05+00:00"
    _record(tmp_path, "s1", "20261129T100000", {"items_in": 8, "articles": 4, "duplicates": 3, "failed": 1}, now)
    # What Prism reported in a failed CI run: a bundle's counts lost (4 article rows written).
    metrics = {"feed_parse": {"items": 8}, "write": {"articles_rows": 2, "duplicates_rows": 3,
                                                     "failures_item_error": 1}}
    manifest = {"conservation": conservation(metrics)}
    _balance_from_records(manifest, str(tmp_path), "s1", started="2026-11-29T10:00:00+00:00")
    assert manifest["conservation"]["balanced"] and manifest["conservation"]["articles"] == 4
    assert manifest["conservation_source"] == "window records"
    assert manifest["conservation_from_metrics"]["articles"] == 2
    assert "runner's metrics count items_in 8, articles 2" in capsys.readouterr().err

    metrics["write"]["articles_rows"] = 4
    agreeing = {"conservation": conservation(metrics)}
    _balance_from_records(agreeing, str(tmp_path), "s1", started="2026-11-29T10:00:00+00:00")
    assert agreeing["conservation"] == agreeing["conservation_from_metrics"]
    assert capsys.readouterr().err == ""

    nothing = {"conservation": conservation({})}
    _balance_from_records(nothing, str(tmp_path), "s1", started="2026-11-29T11:00:00+00:00")
    assert nothing["conservation_source"].startswith("runner metrics")


def test_a_damaged_window_record_leaves_the_runners_balance(tmp_path):
    from pipeline.manifest import conservation
    from pipeline.stream import _balance_from_records

    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "s1-20261129T100000.json").write_text('{"kind": "wind')
    manifest = {"conservation": conservation({"feed_parse": {"items": 1}, "write": {"articles_rows": 1}})}
    _balance_from_records(manifest, str(tmp_path), "s1", started="2026-11-29T10:00:00+00:00")
    assert manifest["conservation"]["balanced"]
    assert manifest["conservation_source"].startswith("runner metrics (window records unreadable")
