"""Progress while a run or a stream works: items per stage so far, elapsed time and rates.

On a terminal (stderr is a TTY) a live table (rich) refreshed every ``--progress_interval``
seconds (default 1); otherwise (cron, Airflow, CI logs) one plain line every
``--progress_interval`` seconds (default 30). ``--quiet`` turns it off. It goes to stderr,
so what a run prints on stdout (its state and balance) stays the same.

The counts are the workers' live tallies (``transforms._progress``): the launcher makes a
folder, names it in ``NEWSBEAM_PROGRESS_DIR`` for the workers it starts, and sums the
files they write there. Counts are what was attempted so far; the manifest's counts at the
end are Beam's committed metrics.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import IO, Optional

from transforms._progress import PROGRESS_ENV, read_tallies

__all__ = ["ProgressDisplay", "ROWS", "progress_rows"]

# What the display shows: a label and the counter-name prefixes (``stage/name``) summed for it.
ROWS = (
    ("feeds polled", ("feed_fetch/received",)),
    ("items found", ("feed_parse/items",)),
    ("pages fetched", ("fetch/received",)),
    ("articles extracted", ("extract/emitted",)),
    ("duplicates", ("dedup/dropped_", "fetch/dropped_same_url")),
    ("failures, drops, warnings", ("write/failures_",)),
    ("entities tagged", ("entities/emitted",)),
)
TTY_INTERVAL, PLAIN_INTERVAL = 1.0, 30.0
NOT_REPORTED = ("no worker has reported yet (workers this process did not start, such as a Flink "
                "cluster's, report only at the end)")


def progress_rows(tallies: Counter) -> list[tuple[str, int]]:
    return [(label, sum(v for k, v in tallies.items() if k.startswith(prefixes))) for label, prefixes in ROWS]


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:.1f}/s" if seconds >= 1 and count else ""


class ProgressDisplay:
    """``with ProgressDisplay("run 2026...", interval, quiet):`` around the pipeline's run."""

    def __init__(self, title: str, interval: Optional[float] = None, quiet: bool = False,
                 stream: Optional[IO[str]] = None):
        self._title = title
        self._stream = stream or sys.stderr
        self._quiet = quiet
        self._live = not quiet and self._stream.isatty()
        self._interval = interval or (TTY_INTERVAL if self._live else PLAIN_INTERVAL)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._dir: Optional[str] = None
        self._previous_env: Optional[str] = None
        self._start = time.monotonic()

    def __enter__(self) -> "ProgressDisplay":
        if self._quiet:
            return self
        self._dir = tempfile.mkdtemp(prefix="newsbeam-progress-")
        self._previous_env = os.environ.get(PROGRESS_ENV)
        os.environ[PROGRESS_ENV] = self._dir
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="newsbeam-progress-display", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._quiet:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._previous_env is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = self._previous_env
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def counts(self) -> list[tuple[str, int]]:
        return progress_rows(read_tallies(self._dir)) if self._dir else []

    def reported(self) -> bool:
        """Whether any worker has written its tally yet."""
        return bool(self._dir and os.path.isdir(self._dir) and os.listdir(self._dir))

    def line(self) -> str:
        """The plain line: elapsed time, then each count (with its rate)."""
        elapsed = time.monotonic() - self._start
        parts = []
        for label, count in self.counts():
            rate = _rate(count, elapsed)
            parts.append(f"{label} {count}" + (f" ({rate})" if rate else ""))
        line = f"newsbeam {self._title}: {_clock(elapsed)} elapsed | " + " | ".join(parts)
        return line if self.reported() else line + f" | {NOT_REPORTED}"

    def _table(self):
        from rich.table import Table

        elapsed = time.monotonic() - self._start
        table = Table(title=f"newsbeam {self._title}", title_justify="left",
                      caption=f"{_clock(elapsed)} elapsed", caption_justify="left")
        table.add_column("stage")
        table.add_column("so far", justify="right")
        table.add_column("rate", justify="right")
        for label, count in self.counts():
            table.add_row(label, str(count), _rate(count, elapsed))
        if not self.reported():
            table.caption += f"; {NOT_REPORTED}"
        return table

    def _loop(self) -> None:
        if self._live:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self._stream)
            with Live(self._table(), console=console, auto_refresh=False, transient=False) as live:
                while not self._stop.wait(self._interval):
                    live.update(self._table(), refresh=True)
                live.update(self._table(), refresh=True)
        else:
            while not self._stop.wait(self._interval):
                print(self.line(), file=self._stream, flush=True)
