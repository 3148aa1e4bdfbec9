"""ExtractArticles: boilerplate removal, metadata precedence, drops and errors."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import SAMPLES, pinned_options
from samples_util import BASE, page

from transforms.extract_articles import (
    EmptyExtraction,
    ExtractArticles,
    content_hash,
    extract_article,
    pick_published,
)

SEED = "iranpress/2020/01/07/shamkhani-khamis-meeting.html"


def test_extracts_the_report_without_page_chrome():
    a = extract_article(page(SEED))
    seed_text = (SAMPLES / "seeds" / "000_5bbcf8d028a04151.txt").read_text()
    assert "Imad Mohammad Deeb Khamis met with the secretary" in a.text
    assert seed_text.split("\n")[0].strip() in a.text
    for chrome in ("Privacy policy", "All rights reserved", "Talks held between", "Search"):
        assert chrome not in a.text
    assert a.title == "Shamkhani meets Syrian Prime Minister Imad Khamis in Tehran"
    assert a.source == "Iran Press Daily"
    assert a.authors == ["Iran Press desk"]
    assert a.language == "en"
    assert a.canonical_url == f"{BASE}/{SEED}"
    assert a.word_count == len(__import__("re").findall(r"\w+", a.text))
    assert a.text_source == "page"
    assert a.published.startswith("2020-01-07")


def test_feed_values_fill_what_the_page_lacks():
    bare = b"<html><body><article>" + b"<p>" + b"Word " * 120 + b"</p></article></body></html>"
    a = extract_article(page("x/bare.html", body=bare, published="2020-01-05T10:00:00.000000+00:00"))
    assert a.title == "Feed title"
    assert a.authors == ["Feed Author"]
    assert a.tags == ["FeedCat"]
    assert a.published == "2020-01-05T10:00:00.000000+00:00"
    assert a.source.startswith("127.0.0.1")  # no site name on the page: the host


def test_published_precedence():
    feed = "2020-01-07T06:00:00.000000+00:00"
    assert pick_published("2020-01-07T00:00:00.000000+00:00", feed) == feed  # date-only page value
    assert pick_published("2020-01-07T09:30:00.000000+00:00", feed).startswith("2020-01-07T09:30")
    assert pick_published("2020-01-06T00:00:00.000000+00:00", feed).startswith("2020-01-06")
    assert pick_published(None, feed) == feed
    assert pick_published(None, None) is None


def test_content_hash_ignores_case_spacing_and_punctuation_only():
    assert content_hash("Hello,  World!\nAgain") == content_hash("hello world again")
    assert content_hash("hello world again") != content_hash("hello world, once more")


def test_empty_page_raises():
    with pytest.raises(EmptyExtraction):
        extract_article(page("x/empty.html", body=b"<html><head><title>t</title></head><body></body></html>"))


def test_composite_routes_drops_and_errors():
    short = b"<html><body><article><p>Only a few words here, really not many.</p></article></body></html>"
    pages = [page(SEED), page("x/short.html", body=short),
             page("x/empty.html", body=b"<html><body></body></html>")]
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | beam.Create(pages) | ExtractArticles(min_words=50)
        assert_that(out.articles | beam.Map(lambda a: a.url), equal_to([f"{BASE}/{SEED}"]))
        assert_that(out.failed | beam.Map(lambda f: (f.url.rsplit("/", 1)[-1], f.error, f.severity)),
                    equal_to([("short.html", "too_short", "drop"),
                              ("empty.html", "EmptyExtraction", "error")]), label="Failed")
