"""Live progress from the workers: what every worker process has done so far, readable while
the pipeline runs.

Beam's metrics reach the launching process when a bundle (FnApiRunner: a whole stage)
ends, and the FnApiRunner has no API to read them before the run ends. So the counters the
progress display shows (``PROGRESS``) are ``counter(stage, name)``: a Beam counter (the
manifest's figure, exact) that also adds to a tally of the worker process. When the
launcher set ``NEWSBEAM_PROGRESS_DIR`` in the environment the workers inherit (the
FnApiRunner's worker processes; Prism's loopback workers run inside the launcher), each
process writes its tally there as ``<host>-<pid>.json`` at most once a second; the display
(``pipeline.progress``) sums the files. Workers started elsewhere (a Flink cluster's worker
pool) do not see the variable and write nothing. The tally counts what was attempted: a
retried bundle counts twice, the manifest once.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import Counter
from typing import Optional

from apache_beam.metrics import Metrics

__all__ = ["counter", "PROGRESS_ENV", "read_tallies"]

PROGRESS_ENV = "NEWSBEAM_PROGRESS_DIR"
FLUSH_SECONDS = 1.0


class _Tally:
    """This process's counts, flushed to ``<dir>/<host>-<pid>.json`` by a daemon thread."""

    def __init__(self, directory: str):
        self._path = os.path.join(directory, f"{socket.gethostname()}-{os.getpid()}.json")
        self._counts: Counter = Counter()
        self._lock = threading.Lock()
        self._changed = threading.Event()
        threading.Thread(target=self._flush_forever, name="newsbeam-progress", daemon=True).start()

    def add(self, key: str, n: int) -> None:
        with self._lock:
            self._counts[key] += n
        self._changed.set()

    def _flush_forever(self) -> None:
        while True:
            self._changed.wait()
            self._changed.clear()
            with self._lock:
                data = json.dumps(dict(self._counts))
            try:
                tmp = f"{self._path}.tmp"
                with open(tmp, "w", encoding="utf-8") as handle:
                    handle.write(data)
                os.replace(tmp, self._path)
            except OSError:  # the launcher removed the folder: the run is over
                return
            time.sleep(FLUSH_SECONDS)


_TALLY: Optional[_Tally] = None
_TALLY_OF: Optional[tuple[int, str]] = None  # (pid, folder) the tally is for
_TALLY_LOCK = threading.Lock()


def _tally() -> Optional[_Tally]:
    global _TALLY, _TALLY_OF
    directory = os.environ.get(PROGRESS_ENV)
    if not directory:
        return None
    of = (os.getpid(), directory)
    if _TALLY_OF != of:  # first count of this process, or of a new run in it
        with _TALLY_LOCK:
            if _TALLY_OF != of:
                _TALLY, _TALLY_OF = _Tally(directory), of
    return _TALLY


class _ProgressCounter:
    """A Beam counter that also adds to the process's live tally."""

    def __init__(self, stage: str, name: str):
        self._counter = Metrics.counter(stage, name)
        self._key = f"{stage}/{name}"

    def inc(self, n: int = 1) -> None:
        self._counter.inc(n)
        tally = _tally()
        if tally is not None:
            tally.add(self._key, n)


def counter(stage: str, name: str) -> _ProgressCounter:
    return _ProgressCounter(stage, name)


def read_tallies(directory: str) -> Counter:
    """The sum of every process's tally in ``directory`` (a file being replaced is skipped)."""
    total: Counter = Counter()
    try:
        names = os.listdir(directory)
    except OSError:
        return total
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                total.update(json.load(handle))
        except (OSError, ValueError):
            continue
    return total
