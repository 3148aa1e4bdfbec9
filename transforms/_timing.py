"""Time spent per stage, as a Beam counter every runner reports: ``<stage>/busy_micros``.

``timed(STAGE)`` decorates a DoFn's ``process``. It adds the time spent inside ``process``
to the counter, and not the time its outputs spend in the steps fused after it (Beam
runs those inside each ``yield``), so two stages of one fused step are told apart. The
counter sums every worker and thread: it is time at work, not wall-clock time (a fetch
step that waits on 32 requests at once counts its wall time once per bundle, not 32 times).
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Any, Callable, Iterator

from apache_beam.metrics import Metrics

__all__ = ["timed", "timed_outputs", "busy", "busy_counter", "BUSY"]

BUSY = "busy_micros"


def busy_counter(stage: str):
    return Metrics.counter(stage, BUSY)


@contextlib.contextmanager
def busy(counter: Any) -> Iterator[None]:
    """Adds the microseconds spent in the ``with`` block to ``counter``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        counter.inc(int((time.perf_counter() - start) * 1e6))


def timed_outputs(counter: Any, outputs: Any) -> Iterator[Any]:
    """Yields ``outputs`` (an iterable, or None), adding to ``counter`` the microseconds spent
    producing them, not those spent by the consumer between two of them."""
    clock = time.perf_counter
    spent = 0.0
    try:
        if outputs is None:
            return
        it = iter(outputs)
        while True:
            start = clock()
            try:
                item = next(it)
            except StopIteration:
                spent += clock() - start
                return
            spent += clock() - start
            yield item
    finally:
        counter.inc(int(spent * 1e6))


def timed(stage: str) -> Callable:
    """Decorates a DoFn's ``process``: its time goes to ``<stage>/busy_micros``."""
    counter = busy_counter(stage)

    def decorate(process: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(process)
        def timed_process(*args: Any, **kwargs: Any) -> Iterator[Any]:
            start = time.perf_counter()
            outputs = process(*args, **kwargs)  # a generator's body runs in timed_outputs
            counter.inc(int((time.perf_counter() - start) * 1e6))
            return timed_outputs(counter, outputs)

        return timed_process

    return decorate
