"""WithWindowValue: the keyed join (streams) gives exactly what the side input (batch) gives,
window by window, tagged outputs included."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window
from conftest import pinned_options

from transforms._joins import WithWindowValue

# (value, timestamp): windows of 10 s: [0, 10) has 1, 2, 3; [10, 20) has 11, 12; [20, 30) has 25.
ELEMENTS = [(1, 1), (2, 2), (3, 3), (11, 11), (12, 12), (25, 25)]
# One value per window, except [20, 30), which has none and gets the default.
VALUES = [(100, 5), (200, 15)]


def _windowed(p, label, rows):
    return (p | f"Create{label}" >> beam.Create(rows)
            | f"Stamp{label}" >> beam.Map(lambda r: window.TimestampedValue(r[0], r[1]))
            | f"Window{label}" >> beam.WindowInto(window.FixedWindows(10)))


def _split(x: int, offset: int):
    yield x + offset
    if x % 2 == 0:
        yield beam.pvalue.TaggedOutput("even", (x, offset))


@pytest.mark.parametrize("keyed", [False, True], ids=["side-input", "keyed-join"])
def test_each_element_meets_the_value_of_its_own_window(keyed):
    with beam.Pipeline(options=pinned_options()) as p:
        elements = _windowed(p, "Elements", ELEMENTS)
        values = _windowed(p, "Values", VALUES)
        out = elements | WithWindowValue(lambda x, v: x + v, values, -1000, keyed=keyed, output_type=int)
        assert_that(out, equal_to([101, 102, 103, 211, 212, -975]))


@pytest.mark.parametrize("keyed", [False, True], ids=["side-input", "keyed-join"])
def test_flat_functions_keep_their_tagged_outputs(keyed):
    with beam.Pipeline(options=pinned_options()) as p:
        elements = _windowed(p, "Elements", ELEMENTS)
        values = _windowed(p, "Values", VALUES)
        out = elements | WithWindowValue(_split, values, 0, keyed=keyed, flat=True, outputs=("even",), main="all")
        assert_that(out.all, equal_to([101, 102, 103, 211, 212, 25]), label="All")
        assert_that(out.even, equal_to([(2, 100), (12, 200)]), label="Even")
