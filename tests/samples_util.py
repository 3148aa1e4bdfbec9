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
