"""PollTicks: the stream's source. Nothing -> one tick (the poll number) every
``interval`` seconds, timestamped with its due time; no failures.

A periodic impulse like Beam's ``PeriodicImpulse`` (a splittable DoFn that defers itself
until the next tick is due and advances the watermark to it), with one thing that one
lacks: it can be *drained*. Before each tick, and every second while it waits for one, it
checks a stop marker (a file written through Beam's ``FileSystems``, so it works on any
runner whose workers see the output filesystem); once the marker exists it claims the rest of its range and ends, the
watermark goes to the end of time, every open window fires and the pipeline finishes
by itself. ``max_polls`` ends it the same way after that many ticks.

    newsbeam stream --feeds samples/feeds.opml --output /tmp/out --poll_interval 60
"""

from __future__ import annotations

import time
from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

__all__ = ["PollTicks", "UNTIL_CANCELLED"]

STAGE = "poll"
# Without --max_polls a stream polls "for ever": 2**62 polls of one second is longer.
UNTIL_CANCELLED = 2**62
DRAIN_CHECK = 1.0  # seconds between two looks for the stop marker while waiting for a tick


class _TickRange(RestrictionProvider):
    def initial_restriction(self, element: tuple[float, int, float]) -> OffsetRange:
        return OffsetRange(0, element[1])

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element, restriction: OffsetRange) -> int:
        return restriction.size()

    def truncate(self, element, restriction):
        return None  # a drained runner stops ticking at once


def _stop_requested(marker: Optional[str]) -> bool:
    try:
        return bool(marker) and FileSystems.exists(marker)
    except Exception:  # an unreachable filesystem must not end the stream
        return False


_TICKS = _TickRange()


class _PollTicksFn(beam.DoFn):
    def __init__(self, stop_marker: Optional[str]):
        self._stop_marker = stop_marker
        self._ticks = Metrics.counter(STAGE, "ticks")

    @beam.DoFn.unbounded_per_element()
    def process(
        self,
        element: tuple[float, int, float],
        tracker=beam.DoFn.RestrictionParam(_TICKS),
        watermark=beam.DoFn.WatermarkEstimatorParam(ManualWatermarkEstimator.default_provider()),
    ) -> Iterator[TimestampedValue]:
        start, _, interval = element
        index = tracker.current_restriction().start
        while True:
            if _stop_requested(self._stop_marker):
                # Claiming the last position ends the restriction: the source is done.
                tracker.try_claim(tracker.current_restriction().stop - 1)
                return
            due = Timestamp(start + interval * index)
            now = time.time()
            if due.micros / 1e6 > now:
                # Nothing before the next tick: the watermark may advance to it. Wake up at
                # least every DRAIN_CHECK seconds to look for the stop marker, so a drain
                # does not wait for a long poll interval.
                self._advance(watermark, due)
                tracker.defer_remainder(min(due, Timestamp(now + DRAIN_CHECK)))
                return
            if not tracker.try_claim(index):
                return
            self._advance(watermark, due)
            self._ticks.inc()
            yield TimestampedValue(index, due)
            index += 1

    @staticmethod
    def _advance(watermark, to: Timestamp) -> None:
        current = watermark.current_watermark()
        if current is None or to > current:
            watermark.set_watermark(to)


class PollTicks(beam.PTransform):
    """Emits tick ``0, 1, 2, ...`` every ``interval`` seconds from now.

    Args:
        interval: seconds between ticks (the poll interval).
        max_polls: ticks before the source ends by itself (None: until drained).
        stop_marker: a path; once it exists the source emits nothing more and ends.
        start: time of the first tick (default: now).
    """

    def __init__(self, interval: float, max_polls: Optional[int] = None, stop_marker: Optional[str] = None,
                 start: Optional[float] = None):
        super().__init__()
        if interval <= 0:
            raise ValueError(f"poll interval must be > 0 seconds, got {interval}")
        self._interval = float(interval)
        self._max_polls = max_polls or UNTIL_CANCELLED
        self._stop_marker = stop_marker
        self._start = start

    def expand(self, pbegin):
        start = self._start if self._start is not None else time.time()
        return (
            pbegin
            | "Schedule" >> beam.Create([(start, self._max_polls, self._interval)])
            | "Tick" >> beam.ParDo(_PollTicksFn(self._stop_marker)).with_output_types(int)
        )
