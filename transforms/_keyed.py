"""What the stages need to keep their memory in keyed state when the graph is a stream.

A batch run joins each stage with what earlier runs left in ``OUT/state`` (read once, as
a PCollection). A stream cannot read its own output back, so the same stages keep that
memory in keyed state instead: stateful DoFns, seeded from ``OUT/state`` (a side input
read once at start) and expiring entries by event-time timers.

Beam scopes state per key *and window*, so a stateful step runs in the global window:
``into_global`` before it, ``back_into`` the stream's fixed windows after it (elements
keep their timestamps, so each lands in the window it came from).
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
from apache_beam.transforms import window

DAY = 24 * 3600
# Stateful steps are keyed by strings: declared, so Beam picks a deterministic key coder.
STR_KEYED = beam.typehints.Tuple[str, beam.typehints.Any]


class KeyedMemory(NamedTuple):
    """Args:
    window_seconds: the size of the windows the stages work in (a stream: one per poll).
    seen_retention_days: how long a URL the stream ingested stays in keyed state (a URL still
        listed after that is fetched again).
    offset: where those windows start, in seconds (a stream aligns them to end just after
        each poll, so a poll's work starts at once instead of when a longer window closes).
    """

    window_seconds: float
    seen_retention_days: float = 90.0
    offset: float = 0.0

    def windows(self) -> window.FixedWindows:
        return window.FixedWindows(self.window_seconds, self.offset)

    def window_no(self, timestamp) -> int:
        """The number of the window ``timestamp`` falls in (increasing with time)."""
        return int((timestamp.micros - int(self.offset * 1e6)) // int(self.window_seconds * 1e6))


def into_global(pcoll, label: str):
    return pcoll | f"{label}IntoGlobal" >> beam.WindowInto(window.GlobalWindows())


def back_into(pcoll, memory: KeyedMemory, label: str):
    return pcoll | f"{label}BackIntoWindows" >> beam.WindowInto(memory.windows())


def expiry(timestamp, days: float):
    """The event time at which an entry stamped ``timestamp`` expires."""
    return timestamp + int(days * DAY)

