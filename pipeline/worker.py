"""The SDK worker process of a local run (``python -m pipeline.worker``): Beam's
``sdk_worker_main``, with Ctrl-C left to the launcher.

A terminal's Ctrl-C reaches every process of the foreground group: the worker processes
the FnApiRunner starts died of it, each printing a traceback, before the launcher could
say in one line what was committed. Here a worker ignores SIGINT; the launcher stops the
run, and a worker ends when the launcher closes its control channel (or kills it).
"""

from __future__ import annotations

import logging
import signal
import sys

# Two lines every worker process logged at its start, which say nothing about the run.
_NOISE = ("Logging handler created", "No semi_persistent_directory found")


def _not_noise(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_NOISE)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("apache_beam.runners.worker.sdk_worker_main").addFilter(_not_noise)
    from apache_beam.runners.worker import sdk_worker_main

    import pipeline.options  # noqa: F401  (newsbeam's flags known: no "Discarding unparseable args")

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
