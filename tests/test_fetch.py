"""FetchFeeds and FetchPages as composites, against the sample site on loopback."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import pinned_options

from schemas.elements import FeedItem, FeedSource, FeedValidators
from transforms._http import FetchConfig
from transforms._urls import article_id, canonical_url
from transforms.fetch_feeds import FetchFeeds
from transforms.fetch_pages import FetchPages

OPEN = FetchConfig(timeout=5.0, allow_private_hosts=True)
GUARDED = FetchConfig(timeout=5.0, allow_private_hosts=False)
STORY = "iranpress/2020/01/07/shamkhani-khamis-meeting.html"


def _item(site, path: str, feed: str = "feed-a") -> FeedItem:
    link = site.url(path)
    return FeedItem(site.url(feed), link, canonical_url(link), None, None, None, None, [], [])


def _no_state(p):
    return p | "NoValidators" >> beam.Create([]).with_output_types(FeedValidators)


def test_fetch_feeds_fetches_and_reports(sample_site):
    urls = [sample_site.url("observer/atom.xml"), sample_site.url("nope.xml")]
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | beam.Create([FeedSource(u, None, [], None) for u in urls]) | FetchFeeds(OPEN, _no_state(p))
        assert_that(out["feeds"] | beam.Map(lambda f: (f.feed_url, f.http_status, b"<feed" in f.body)),
                    equal_to([(urls[0], 200, True)]))
        assert_that(out["failed"] | beam.Map(lambda f: (f.url, f.error, f.http_status, f.unit)),
                    equal_to([(urls[1], "HttpError", 404, "feed")]), label="Failed")
        assert_that(out["validators"] | beam.Map(lambda v: (v.feed_url, v.etag is not None)),
                    equal_to([(urls[0], True)]), label="Validators")


def test_conditional_get_turns_into_304_and_no_feed(sample_site):
    url = sample_site.url("observer/atom.xml")
    body, _ = sample_site.render("/observer/atom.xml")
    import hashlib

    etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
    stored = [FeedValidators(url, etag, None, "2020-01-01T00:00:00+00:00"),
              FeedValidators(url, '"old"', None, "2019-01-01T00:00:00+00:00")]  # the newest wins
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        state = p | "State" >> beam.Create(stored)
        out = p | beam.Create([FeedSource(url, None, [], None)]) | FetchFeeds(OPEN, state)
        assert_that(out["feeds"], equal_to([]), label="NoFeeds")
        assert_that(out["failed"], equal_to([]), label="NoFailures")


def test_fetch_pages_fetches_each_url_once_and_routes_every_outcome(sample_site):
    items = [
        _item(sample_site, STORY),
        _item(sample_site, STORY + "?utm_source=x&fbclid=y#top", feed="feed-b"),  # same article
        _item(sample_site, "iranpress/gone.html"),  # 404
        _item(sample_site, "observer/atom.xml"),  # not HTML
    ]
    before = len(sample_site.requests)
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | beam.Create(items) | FetchPages(OPEN)
        assert_that(out["pages"] | beam.Map(lambda pg: (pg.final_url, pg.http_status, pg.item.feed_url)),
                    equal_to([(sample_site.url(STORY), 200, sample_site.url("feed-a"))]))
        assert_that(out["duplicates"] | beam.Map(lambda d: (d.method, d.canonical_article_id, d.feed_url)),
                    equal_to([("url", article_id(sample_site.url(STORY)), sample_site.url("feed-b"))]),
                    label="Duplicates")
        assert_that(out["failed"] | beam.Map(lambda f: (f.url.rsplit("/", 1)[-1], f.error, f.severity)),
                    equal_to([("gone.html", "HttpError", "error"), ("atom.xml", "not_html", "drop")]),
                    label="Failed")
    story_requests = [r for r in sample_site.requests[before:] if "shamkhani" in r]
    assert len(story_requests) == 1


def test_guard_on_turns_loopback_links_into_failure_rows(sample_site):
    before = len(sample_site.requests)
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | beam.Create([_item(sample_site, STORY)]) | FetchPages(GUARDED)
        assert_that(out["pages"], equal_to([]), label="NoPages")
        assert_that(out["failed"] | beam.Map(lambda f: f.error), equal_to(["BlockedAddress"]))
    assert sample_site.requests[before:] == []
