"""ExtractArticles: boilerplate removal, metadata precedence, drops and errors."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import SAMPLES, pinned_options
from samples_util import BASE, COOKIE_WALL, PAYWALL, page

from transforms.extract_articles import (
    INTERSTITIAL_SHARE,
    EmptyExtraction,
    ExtractArticles,
    Interstitial,
    NotAnArticle,
    clean_authors,
    content_hash,
    count_words,
    extract_article,
    is_index_page,
    notice_share,
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


# Made-up walls of the kinds news sites put before an article (written for these tests).
AD_BLOCK = "We noticed you are using an ad blocker. Please turn off your ad blocker to keep reading."
# Articles about the same words, and one with a newsletter box: not walls.
ABOUT_SUBSCRIPTIONS = (
    "Netflix raised the price of its standard subscription by two dollars on Tuesday. Subscribers in the "
    "United States will pay 17.99 dollars a month from March. The company said the money would pay for "
    "more original series. Analysts expect few subscribers to cancel, since rivals charge about as much.")
ABOUT_COOKIES = (
    "Bakers across the city sold out of Christmas cookies on Saturday, the busiest day of the year. The "
    "most popular cookies were gingerbread men, one shop owner said. Flour prices rose by a tenth this "
    "year, but most bakeries kept their prices.")
ABOUT_A_BREACH = (
    "Twitter urged its 330 million users to change their passwords on Thursday after a bug stored them "
    "in plain text. The company said it had found no sign that anyone misused them. Users can change "
    "their password in the settings once they log in, Twitter said. The bug was found by its own engineers.")
WITH_NEWSLETTER = (
    "The council approved the new tram line on Monday after a two-hour debate. Sign up now for our daily "
    "newsletter. Construction starts in the spring and the line opens in 2023, the mayor said. It will "
    "link the station with the university and the hospital.")


def _wall_page(name: str, title: str, notice: str, content: str | None = None):
    body = f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1><p>{notice}</p>" \
           "</article></body></html>"
    fetched = page(f"x/{name}", body=body.encode())
    return fetched._replace(item=fetched.item._replace(content=content)) if content else fetched


def test_walls_are_mostly_notice_and_articles_about_the_same_words_are_not():
    for wall in (PAYWALL, COOKIE_WALL, AD_BLOCK):
        assert notice_share(wall) >= INTERSTITIAL_SHARE, wall
    for text in (ABOUT_SUBSCRIPTIONS, ABOUT_COOKIES, ABOUT_A_BREACH, WITH_NEWSLETTER):
        assert notice_share(text) < INTERSTITIAL_SHARE, text
    assert 0 < notice_share(WITH_NEWSLETTER)  # the newsletter sentence counts, the rest does not
    assert notice_share(extract_article(page(SEED)).text) < 0.1
    assert notice_share("") == 0.0


def test_a_paywall_page_is_dropped_as_an_interstitial_unless_the_feed_carries_the_article():
    with pytest.raises(Interstitial, match="paywall"):
        extract_article(_wall_page("paywall.html", "Council approves budget", PAYWALL))
    story = " ".join([WITH_NEWSLETTER.replace("Sign up now for our daily newsletter. ", "")] * 3)
    a = extract_article(_wall_page("paywall.html", "Council approves budget", PAYWALL, content=f"<p>{story}</p>"))
    assert a.text_source == "feed" and "tram line" in a.text and "subscriber" not in a.text
    # A feed whose content is the wall too: still an interstitial.
    with pytest.raises(Interstitial):
        extract_article(_wall_page("paywall.html", "Council approves budget", PAYWALL, content=f"<p>{AD_BLOCK}</p>"))


def test_composite_routes_drops_and_errors():
    short = b"<html><body><article><p>Only a few words here, really not many.</p></article></body></html>"
    pages = [page(SEED), page("x/short.html", body=short),
             page("x/empty.html", body=b"<html><body></body></html>"),
             _wall_page("cookies.html", "Storm closes roads", COOKIE_WALL)]
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | beam.Create(pages) | ExtractArticles(min_words=50)
        assert_that(out.articles | beam.Map(lambda a: a.url), equal_to([f"{BASE}/{SEED}"]))
        assert_that(out.failed | beam.Map(lambda f: (f.url.rsplit("/", 1)[-1], f.error, f.severity)),
                    equal_to([("short.html", "too_short", "drop"),
                              ("empty.html", "EmptyExtraction", "error"),
                              ("cookies.html", "interstitial", "drop")]), label="Failed")


def test_authors_are_cleaned_of_by_and_the_outlet():
    assert clean_authors(["By Jane Doe and John Roe"], {"Daily News"}) == ["Jane Doe", "John Roe"]
    assert clean_authors(["Jane Doe; Daily News", "by: JOHN ROE | daily news"], {"Daily News"}) == [
        "Jane Doe", "JOHN ROE"]
    assert clean_authors(["desk@example.org", "https://example.org/staff", "Jane Doe, Jane Doe"], set()) == [
        "Jane Doe"]


def test_dates_are_utc_and_sane():
    from schemas.timeutil import sane_iso

    assert sane_iso("2020-01-07T09:30:00+03:30") == "2020-01-07T06:00:00.000000+00:00"
    assert sane_iso("2020-01-07") == "2020-01-07T00:00:00.000000+00:00"  # naive: taken as UTC
    assert sane_iso("1989-12-31T23:00:00+00:00") is None  # before 1990
    assert sane_iso("2999-01-01T00:00:00+00:00") is None  # in the future
    assert sane_iso("not a date") is None


def test_modified_date_is_kept_only_when_later():
    html = (b"<html><head><meta property='article:published_time' content='2020-01-07T09:00:00+00:00'>"
            b"<meta property='article:modified_time' content='2020-01-09T10:00:00+00:00'></head><body><article>"
            + b"<p>" + b"A sentence of the report goes here. " * 30 + b"</p></article></body></html>")
    a = extract_article(page("x/modified.html", body=html))
    assert a.published.startswith("2020-01-07")
    assert a.modified is not None and a.modified.startswith("2020-01-09")


def test_the_page_is_parsed_once_and_left_to_trafilatura_when_it_refuses():
    """One tree serves trafilatura and htmldate; it is not changed by them (each copies),
    and what trafilatura's loader refuses goes on as it came, so trafilatura's own
    outcome and error stay as they were."""
    from lxml.html import HtmlElement, tostring

    from transforms.extract_articles import _parsed, main_text

    html = (b"<html><head><meta property='article:published_time' content='2020-01-07T09:00:00+00:00'>"
            b"<title>Report</title></head><body><nav><a href='/'>Home</a></nav><article>"
            + b"<p>" + b"A sentence of the report goes here. " * 30 + b"</p></article></body></html>")
    tree = _parsed(html)
    assert isinstance(tree, HtmlElement)
    before = tostring(tree)
    _, from_tree, _ = main_text(tree, f"{BASE}/x/once.html")
    _, from_bytes, _ = main_text(html, f"{BASE}/x/once.html")
    assert from_tree == from_bytes and from_tree.startswith("A sentence of the report")
    assert tostring(tree) == before
    assert _parsed(b"just a line of text, no markup") == b"just a line of text, no markup"


def test_language_declared_then_feed_hint_then_detected():
    sentence = "Die Regierung hat am Montag einen neuen Haushalt beschlossen, sagte der Minister. "
    german = b"<p>" + sentence.encode() * 12
    declared = b"<html lang='fr'><body><article>" + german + b"</p></article></body></html>"
    plain = b"<html><body><article>" + german + b"</p></article></body></html>"
    assert extract_article(page("x/a.html", body=declared)).language == "fr"  # what the page declares
    assert extract_article(page("x/b.html", body=plain)).language == "de"  # detected
    hinted = page("x/c.html", body=plain)
    hinted = hinted._replace(item=hinted.item._replace(language_hint="nl"))
    assert extract_article(hinted).language == "nl"  # the feed's language before detection


def test_cjk_words_are_counted_per_character():
    assert count_words("東京で会議が開かれた") == 10
    assert count_words("Tokyo hosts 会議") == 4


def test_index_pages_are_dropped_as_not_article():
    headlines = "".join(f"<li><a href='/n/{i}'>Headline number {i} about the city</a></li>" for i in range(30))
    index = f"<html><head><meta property='og:type' content='website'></head><body><main><ul>{headlines}</ul>" \
            "</main></body></html>"
    with pytest.raises(NotAnArticle):
        extract_article(page("news/", body=index.encode()))
    assert not is_index_page("\n".join(["short line"] * 20), 0.8, pagetype="article")  # declared article
    assert is_index_page("\n".join(["short line"] * 20), 0.8, pagetype="website")
    assert not is_index_page("\n".join(["short line"] * 20), 1.1, pagetype="website")  # check off


def test_extraction_runs_one_page_at_a_time_across_threads(monkeypatch):
    """trafilatura crashes the process when it runs in several threads at once (Prism's and
    Flink's SDK workers run bundles in threads): extract_article lets one in at a time."""
    import threading
    import time

    import transforms.extract_articles as ea

    inside, most = 0, 0
    count = threading.Lock()
    real = ea.main_text

    def watched(*args, **kwargs):
        nonlocal inside, most
        with count:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)  # long enough for the other threads to arrive
        try:
            return real(*args, **kwargs)
        finally:
            with count:
                inside -= 1

    monkeypatch.setattr(ea, "main_text", watched)
    results = []
    threads = [threading.Thread(target=lambda: results.append(extract_article(page(SEED)).title))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["Shamkhani meets Syrian Prime Minister Imad Khamis in Tehran"] * 4
    assert most == 1


def test_a_wall_keeps_its_pages_headline_and_time_for_story_grouping():
    from transforms.extract_articles import wall_headline

    body = ("<html lang='en'><head><title>Erbil Observer</title>"
            "<meta property='og:title' content='Syrian delegation meets Tehran officials'>"
            "<meta property='article:published_time' content='2020-01-07T09:30:00+00:00'></head>"
            f"<body><article><p>{PAYWALL}</p></article></body></html>")
    walled = page("x/walled.html", body=body.encode())
    with pytest.raises(Interstitial) as caught:
        extract_article(walled)
    assert caught.value.published.startswith("2020-01-07T09:30")
    # the feed's headline first (a wall's <title> is often the site's name), its time from the page
    headline = wall_headline(walled, caught.value)
    assert (headline.title, headline.text, headline.language) == ("Feed title", "", "en")
    assert headline.published.startswith("2020-01-07T09:30")
    # without a feed headline, the page's; without any time, the fetch's
    untitled = walled._replace(item=walled.item._replace(title=None))
    assert wall_headline(untitled, caught.value).title == "Syrian delegation meets Tehran officials"
    assert wall_headline(walled, Interstitial("wall")).published == walled.fetched_at
    assert wall_headline(untitled, Interstitial("wall")) is None  # no headline at all: nothing to offer
