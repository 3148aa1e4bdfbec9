"""Canonical URLs: what two links to one article have in common, and nothing more."""

from __future__ import annotations

import pytest

from transforms._urls import article_id, canonical_url


@pytest.mark.parametrize("a,b", [
    ("HTTP://Example.COM:80/news/story/", "http://example.com/news/story"),
    ("https://example.com:443/news/story#comments", "https://example.com/news/story"),
    ("http://example.com/a?utm_source=rss&utm_medium=feed", "http://example.com/a"),
    ("http://example.com/a?fbclid=x&gclid=y", "http://example.com/a"),
    ("http://example.com/a?b=2&a=1", "http://example.com/a?a=1&b=2"),
    ("http://example.com", "http://example.com/"),
])
def test_same_article_same_canonical(a, b):
    assert canonical_url(a) == canonical_url(b)
    assert article_id(canonical_url(a)) == article_id(canonical_url(b))


@pytest.mark.parametrize("a,b", [
    ("http://example.com/article.php?story=1", "http://example.com/article.php?story=2"),
    ("http://example.com/a", "https://example.com/a"),
    ("http://example.com/A", "http://example.com/a"),  # paths are case-sensitive
    ("http://example.com:8080/a", "http://example.com/a"),
])
def test_different_articles_stay_apart(a, b):
    assert canonical_url(a) != canonical_url(b)
