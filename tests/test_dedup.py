"""Deduplicate: the canonical rule and the two exact-duplicate steps."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import pinned_options
from samples_util import article

from transforms.deduplicate import Deduplicate, canonical_order

STORY = "Syrian Prime Minister Imad Khamis met Ali Shamkhani in Tehran on Monday. " * 5
OTHER = "The city council approved a new tram line for the northern districts. " * 5


def test_canonical_is_earliest_then_longest_then_smallest_id():
    early = article("http://a/1", "short text", "2020-01-07T06:00:00+00:00")
    late_long = article("http://b/1", "a much longer text " * 10, "2020-01-07T09:00:00+00:00")
    undated = article("http://c/1", "the longest text of them all " * 20, None)
    assert min([late_long, undated, early], key=canonical_order) is early
    same_time = [article("http://d/1", "x y", "2020-01-07T06:00:00+00:00"),
                 article("http://e/1", "x y z", "2020-01-07T06:00:00+00:00")]
    assert min(same_time, key=canonical_order).url == "http://e/1"
    tie = [article("http://f/1", "x y", None), article("http://g/1", "x y", None)]
    assert min(tie, key=canonical_order).article_id == min(a.article_id for a in tie)


def test_url_and_text_copies_become_duplicates_of_the_canonical():
    original = article("http://iranpress/story", STORY, "2020-01-07T06:00:00+00:00")
    repost = article("http://wire/copy", STORY.upper().replace(".", "!"), "2020-01-07T13:00:00+00:00")
    same_url = original._replace(url="http://iranpress/story?amp=1", fetched_at="2020-01-09T01:00:00+00:00")
    other = article("http://iranpress/tram", OTHER, "2020-01-08T06:00:00+00:00")
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | beam.Create([repost, other, same_url, original]) | Deduplicate()
        assert_that(out["articles"] | beam.Map(lambda a: a.url),
                    equal_to(["http://iranpress/story", "http://iranpress/tram"]))
        assert_that(out["duplicates"] | beam.Map(
            lambda d: (d.url, d.method, d.canonical_article_id == original.article_id, d.similarity)),
            equal_to([("http://iranpress/story?amp=1", "url", True, 1.0),
                      ("http://wire/copy", "exact_text", True, 1.0)]), label="Duplicates")


def test_duplicates_are_repointed_to_the_final_canonical():
    from schemas.elements import Duplicate
    from transforms.deduplicate import ResolveCanonicals

    def dup(url, aid, canonical, method):
        return Duplicate(url, aid, canonical, method, 1.0, "f", None, None, None, None)

    rows = [dup("http://a/x?utm=1", "A", "A", "url"),  # a tracking-link repeat of A...
            dup("http://a/x", "A", "B", "exact_text"),  # ...A was a re-post of B...
            dup("http://b/y", "B", "C", "near_text"),  # ...and B an edited copy of C
            dup("http://d/z", "D", "C", "near_text")]
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | beam.Create(rows) | ResolveCanonicals()
        assert_that(out | beam.Map(lambda d: (d.url, d.canonical_article_id)),
                    equal_to([("http://a/x?utm=1", "C"), ("http://a/x", "C"), ("http://b/y", "C"),
                              ("http://d/z", "C")]))
