"""WithWindowValue: applies ``fn(element, value)`` to every element of a window, where
``value`` is the one element another PCollection has in that window (or a default).

Two ways to the same result:

- as a side input (``beam.pvalue.AsSingleton``): the value is handed to every worker and
  the elements stay where they are. Batch runs, and streams on other runners, use this.
- as a keyed join (``keyed=True``): the elements and the value of a window meet under one
  key in a ``CoGroupByKey`` and ``fn`` runs over that group. Streams on Flink use this
  (``pipeline.graph`` decides by the runner), because
  Beam's Flink runner (2.62, the newest whose job server these machines reach) cannot
  checkpoint a Python stage that has a side input: it keeps the side input's data in
  operator state under a coder for ``WindowedValue`` while holding raw bytes, and every
  checkpoint of such a stage is declined (``ClassCastException: [B cannot be cast to
  WindowedValue`` in ``CoderTypeSerializer.copy``, from ``FlinkBroadcastStateInternals``).
  A stream's windows are one poll each, so one key per window holds a poll's articles,
  not a run's.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence

import apache_beam as beam

_KEY = "window"


def _apply_group(kv, fn: Callable, default: Any, flat: bool) -> Iterable:
    _, sides = kv
    values = list(sides["value"])
    value = values[0] if values else default
    for element in sides["main"]:
        if flat:
            yield from fn(element, value)
        else:
            yield fn(element, value)


class WithWindowValue(beam.PTransform):
    """element -> fn(element, value of its window); ``flat`` fns yield zero or more outputs.

    Args:
        fn: ``fn(element, value)``; returns the output (or, with ``flat``, an iterable of
            outputs, which may be ``TaggedOutput``).
        value: a PCollection with at most one element per window.
        default: the value of a window in which ``value`` has no element.
        keyed: join under one key per window (streams) instead of a side input.
        flat: ``fn`` yields outputs instead of returning one.
        outputs: tags of ``TaggedOutput``s ``fn`` yields; ``main`` names the untagged ones.
        output_type: the element type of the output (without ``outputs``).
    """

    def __init__(self, fn: Callable, value, default: Any, keyed: bool = False, flat: bool = False,
                 outputs: Sequence[str] = (), main: Optional[str] = None, output_type: Any = None):
        super().__init__()
        self._fn, self._value, self._default = fn, value, default
        self._keyed, self._flat = keyed, flat
        self._outputs, self._main, self._type = tuple(outputs), main, output_type

    def _tagged(self, pardo):
        if self._outputs:
            return pardo.with_outputs(*self._outputs, main=self._main)
        return pardo.with_output_types(self._type) if self._type is not None else pardo

    def expand(self, main):
        if not self._keyed:
            side = beam.pvalue.AsSingleton(self._value, default_value=self._default)
            step = beam.FlatMap(self._fn, side) if self._flat else beam.Map(self._fn, side)
            return main | "Apply" >> self._tagged(step)
        joined = (
            {"main": main | "KeyElements" >> beam.Map(lambda x: (_KEY, x)),
             "value": self._value | "KeyValue" >> beam.Map(lambda v: (_KEY, v))}
            | "MeetInWindow" >> beam.CoGroupByKey()
        )
        return joined | "Apply" >> self._tagged(beam.FlatMap(_apply_group, self._fn, self._default, self._flat))
