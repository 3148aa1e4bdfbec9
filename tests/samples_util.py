"""Builders of element values for tests (the sample site's pages as FetchedPages)."""

from __future__ import annotations

from conftest import SAMPLES

from schemas.elements import Article, FeedItem, FetchedPage
from transforms._urls import article_id, canonical_url
from transforms.extract_articles import content_hash

BASE = "http://127.0.0.1:9"


def item(path: str, published: str | None = None, title: str | None = "Feed title") -> FeedItem:
    link = f"{BASE}/{path}"
    return FeedItem("http://127.0.0.1:9/feed.xml", link, canonical_url(link), None, title,
                    "summary", published, ["Feed Author"], ["FeedCat"])


def page(path: str, body: bytes | None = None, published: str | None = None) -> FetchedPage:
    if body is None:
        body = (SAMPLES / "site" / path).read_bytes().replace(b"{{BASE}}", BASE.encode())
    return FetchedPage(item(path, published), f"{BASE}/{path}", body, "text/html; charset=utf-8", 200,
                       "2020-01-09T00:00:00.000000+00:00")


def article(url: str, text: str, published: str | None) -> Article:
    canonical = canonical_url(url)
    return Article(article_id(canonical), url, canonical, "http://f/feed.xml", "src", "t", [], published,
                   None, "2020-01-09T00:00:00.000000+00:00", "en", text, len(text.split()), None, None, [],
                   "page", content_hash(text), None)


# Made-up walls of the kinds news sites put before an article (written for these tests).
PAYWALL = ("You have read all of your free articles this month. Subscribe now for unlimited digital access "
           "to local news. Already a subscriber? Log in to continue reading. Questions about your account? "
           "Call our help desk.")
COOKIE_WALL = ("To use this website, cookies must be enabled in your browser. Please change your cookie "
               "settings and reload the page. We use cookies from third party partners to show relevant ads.")
# The Observer's two pages, each behind a wall of its own (the feed keeps their headlines).
WALLED = {
    "observer/news/syrian-delegation-tehran.html": PAYWALL,
    "observer/news/snow-closes-roads.html": COOKIE_WALL,
}


def walled_site(root):
    """A copy of the sample site under ``root`` with the ``WALLED`` pages behind their walls."""
    import shutil

    shutil.copytree(SAMPLES / "site", root)
    for path, notice in WALLED.items():
        (root / path).write_text(f"<html><head><title>Erbil Observer</title></head><body><main><p>{notice}</p>"
                                 "</main></body></html>", encoding="utf-8")
    return root
