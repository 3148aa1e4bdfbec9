"""UTC timestamp helpers shared by every stage (ISO-8601 strings on the wire)."""

from __future__ import annotations

import datetime as dt
from typing import Optional

# Dates outside this range are parse errors or placeholders, not publication dates.
EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.timezone.utc)


def utc_now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def micros_to_iso(micros: int) -> str:
    """Microseconds since the epoch (a Beam timestamp) as a UTC ISO string."""
    return dt.datetime.fromtimestamp(micros / 1e6, dt.timezone.utc).isoformat(timespec="microseconds")


def to_utc(value: dt.datetime) -> dt.datetime:
    """Naive datetimes are taken as UTC (what feeds and pages mean when they omit a zone)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def parse_iso(value: Optional[str]) -> Optional[dt.datetime]:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return to_utc(parsed)


def sane_iso(value: Optional[dt.datetime | str], now: Optional[dt.datetime] = None) -> Optional[str]:
    """Returns a UTC ISO string, or None for dates before 1990 or more than a day ahead."""
    parsed = parse_iso(value) if isinstance(value, str) or value is None else to_utc(value)
    if parsed is None:
        return None
    now = now or dt.datetime.now(dt.timezone.utc)
    if parsed < EARLIEST or parsed > now + dt.timedelta(days=1):
        return None
    return parsed.isoformat(timespec="microseconds")
