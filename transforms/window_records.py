"""RecordWindows: a stream's items and outcomes of one window -> ``OUT/runs/<stream_id>-<window
start>.json`` with that window's counts and conservation check; emits the record's path.

Consumes ``{"items": FeedItem (every feed entry taken in; an entry without a link comes as
the parse's Failure), "articles": Article, "duplicates": Duplicate, "failures": Failure,
"seen": FeedItem (dropped as already ingested), "files": (table, path, rows)}``,
counted in the stream's output windows. The record is written when the watermark passes
the window's end (the on-time pane): by then every item of the window has reached its end
on the local runners, so the check is exact for the window:

    items in = articles + duplicates + dropped (drops + already seen) + failed (item errors)

Late rows (the sink keeps a window open ``allowed_lateness`` seconds after its end) are
counted in a late record of their own (``-late<pane>``), so the records of a stream add up
to everything it took in and wrote. ``stream_balance`` adds them up: the stream's own
balance, taken from its data rather than from the runner's metrics (Prism can lose a
bundle's metrics; see ``pipeline/stream.py``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any, Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger
from apache_beam.utils.timestamp import Duration

from schemas.elements import DROP, ERROR, UNIT_ITEM, Failure
from schemas.timeutil import parse_iso, utc_now_iso
from transforms._files import escape_pattern, join, match_under, read_json, write_atomically

__all__ = ["CountOutcomes", "CountsFn", "RecordWindows", "read_window_records", "stream_balance",
           "window_balance"]

STAGE = "stream"


def _failure_kind(failure: Failure) -> str:
    if failure.unit != UNIT_ITEM:
        return "feed_failures" if failure.severity == ERROR else "warnings"
    return {DROP: "dropped", ERROR: "failed"}.get(failure.severity, "warnings")


def window_balance(counts: dict) -> dict[str, Any]:
    """The conservation check of one window's counts."""
    ended = {k: counts.get(k, 0) for k in ("articles", "duplicates", "dropped", "failed")}
    accounted = sum(ended.values())
    return {"items_in": counts.get("items_in", 0), **ended, "accounted": accounted,
            "balanced": accounted == counts.get("items_in", 0)}


def read_window_records(root: str, stream_id: str, since: Optional[str] = None) -> list[dict]:
    """The window records of stream ``stream_id`` in ``OUT/runs/``, oldest window first;
    with ``since`` (an ISO instant), only those written at or after it (an earlier stream
    given the same id leaves records of its own)."""
    after = parse_iso(since)
    records = []
    for path in match_under(join(root, "runs"), f"{escape_pattern(stream_id)}-*.json"):
        record = read_json(path)
        if record.get("kind") != "window" or record.get("stream_id") != stream_id:
            continue
        if after is not None and (parse_iso(record.get("written_at")) or after) < after:
            continue
        records.append(record)
    return sorted(records, key=lambda r: (r.get("window_start", ""), r.get("pane", 0)))


def stream_balance(records: Iterable[dict]) -> Optional[dict[str, Any]]:
    """The conservation check of a whole stream: its window records' counts added up
    (None without a record)."""
    total: Counter = Counter()
    found = False
    for record in records:
        total.update(record.get("counts") or {})
        found = True
    return window_balance(total) if found else None


class CountOutcomes(beam.PTransform):
    """``{"items", "articles", "duplicates", "failures", "seen", "files"}`` (as RecordWindows
    consumes them) -> ``(kind, 1)`` per element: what ``window_balance`` adds up, counted from
    the elements themselves. A stream counts them per window (``RecordWindows``), a batch run
    once (``pipeline.commit.RecordCounts``)."""

    def expand(self, outcomes: dict):
        return (
            outcomes["items"] | "CountItems" >> beam.Map(lambda _: ("items_in", 1)),
            outcomes["articles"] | "CountArticles" >> beam.Map(lambda _: ("articles", 1)),
            outcomes["duplicates"] | "CountDuplicates" >> beam.Map(lambda _: ("duplicates", 1)),
            outcomes["failures"] | "CountFailures" >> beam.Map(lambda f: (_failure_kind(f), 1)),
            outcomes["seen"] | "CountSeen" >> beam.FlatMap(lambda _: [("dropped", 1), ("dropped_seen", 1)]),
            outcomes["files"] | "CountFiles" >> beam.Map(lambda f: (f"{f[0]}_files", 1)),
        ) | "FlattenCounts" >> beam.Flatten()


class CountsFn(beam.CombineFn):
    """(kind, n) pairs -> {kind: total}."""

    def create_accumulator(self) -> Counter:
        return Counter()

    def add_input(self, acc: Counter, kv: tuple[str, int]) -> Counter:
        acc[kv[0]] += kv[1]
        return acc

    def merge_accumulators(self, accs) -> Counter:
        total: Counter = Counter()
        for acc in accs:
            total.update(acc)
        return total

    def extract_output(self, acc: Counter) -> dict:
        return dict(acc)


class _WriteRecordFn(beam.DoFn):
    def __init__(self, root: str, stream_id: str):
        self._root = root
        self._stream_id = stream_id
        self._windows = Metrics.counter(STAGE, "windows")
        self._unbalanced = Metrics.counter(STAGE, "windows_unbalanced")

    def process(self, counts: dict, win=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam) -> Iterator[str]:
        start = dt.datetime.fromtimestamp(win.start.micros / 1e6, dt.timezone.utc)
        end = dt.datetime.fromtimestamp(win.end.micros / 1e6, dt.timezone.utc)
        balance = window_balance(counts)
        suffix = f"-late{pane.index}" if pane.index else ""
        record = {
            "run_id": f"{self._stream_id}-{start:%Y%m%dT%H%M%S}{suffix}",
            "stream_id": self._stream_id,
            "kind": "window",
            "state": "DONE",
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "pane": pane.index,
            "written_at": utc_now_iso(),
            "counts": counts,
            "conservation": balance,
        }
        path = join(self._root, "runs", f"{record['run_id']}.json")
        data = json.dumps(record, indent=2, default=str).encode("utf-8")
        write_atomically(self._root, self._stream_id, path, lambda handle: handle.write(data))
        self._windows.inc()
        if not balance["balanced"]:
            self._unbalanced.inc()
        yield path


class RecordWindows(beam.PTransform):
    """Writes one record per window of a stream into ``OUT/runs/``.

    Args:
        root: the output directory.
        stream_id: the stream's id (prefix of every record and data file).
        windows: the output windows (a WindowFn).
        allowed_lateness: seconds after a window's end during which late outcomes are still
            counted (in a late record each); the sink's own lateness, so that every row it
            writes is counted.
    """

    def __init__(self, root: str, stream_id: str, windows, allowed_lateness: float = 0.0):
        super().__init__()
        self._root = root
        self._stream_id = stream_id
        self._windows = windows
        self._lateness = allowed_lateness

    def expand(self, outcomes: dict):
        return (
            outcomes
            | "CountOutcomes" >> CountOutcomes()
            | "IntoOutputWindows" >> beam.WindowInto(
                self._windows, trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
                accumulation_mode=trigger.AccumulationMode.DISCARDING,
                allowed_lateness=Duration(seconds=int(self._lateness)))
            | "CountPerWindow" >> beam.CombineGlobally(CountsFn()).without_defaults()
            | "WriteRecord" >> beam.ParDo(_WriteRecordFn(self._root, self._stream_id))
        )
