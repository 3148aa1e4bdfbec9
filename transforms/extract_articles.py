"""ExtractArticles: FetchedPage -> Article; drops and errors -> Failure(stage="extract").

trafilatura turns the page into clean text plus metadata. Each field has one rule for
which source wins:

  field          first choice                       fallback
  canonical_url  page (<link rel=canonical>, og:url) the feed item's canonical link
  title          page                               feed item title
  authors        page (split on ';')                feed item authors
  published      page (sane dates only)             feed item date
  source         page site name                     feed name (YAML/OPML), then the host
  tags           page categories + tags             feed item categories
  language       <html lang>                        feed's language, then detected (py3langid)

The main text: see ``main_text`` (precision-first trafilatura, a recall-first rescue for
tiny results, edge-furniture trimming, the feed's full content as a last resort);
``text_source`` says which one won (``page``, ``page_recall``, ``feed``).

Deliberate drops (severity ``drop``): ``too_short`` when the text has fewer than
``min_words`` words. Errors: ``EmptyExtraction`` when trafilatura finds no main text,
and any exception trafilatura raises on a page.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Iterator, Optional
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import DROP, Article, Failure, FetchedPage
from schemas.timeutil import sane_iso
from transforms._urls import article_id, canonical_url

__all__ = ["ExtractArticles", "extract_article", "content_hash"]

STAGE = "extract"
_WORD = re.compile(r"\w+", re.UNICODE)
_HTML_LANG = re.compile(rb"<html[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_CHARSET = re.compile(r"charset=[\"']?([\w-]+)", re.IGNORECASE)


class EmptyExtraction(Exception):
    pass


def content_hash(text: str) -> str:
    """Hash of the text's words, case-folded: equal for copies that differ only in
    whitespace, punctuation or case."""
    words = " ".join(_WORD.findall(text.casefold()))
    return hashlib.sha256(words.encode("utf-8")).hexdigest()[:32]


def _decode(body: bytes, content_type: Optional[str]) -> bytes | str:
    """Decodes with the header's charset; without one, trafilatura sniffs meta and bytes."""
    match = _CHARSET.search(content_type or "")
    if match:
        try:
            return body.decode(match.group(1), errors="replace")
        except LookupError:
            pass
    return body


def _language(body: bytes, text: str, hint: Optional[str] = None) -> Optional[str]:
    declared = _HTML_LANG.search(body[:4096])
    if declared:
        return declared.group(1).decode("ascii").lower()
    if hint:
        return hint.lower()
    import py3langid

    return py3langid.classify(text[:5000])[0] if text else None


def pick_published(page: Optional[str], feed: Optional[str]) -> Optional[str]:
    """The page's date wins, except that a date-only page value (often read from the URL)
    yields to the feed's timestamp on the same day, which has the time of day."""
    if page is None or feed is None:
        return page or feed
    if page[:10] == feed[:10] and page[11:19] == "00:00:00":
        return feed
    return page


# Short lines at either end of the text that are page furniture, not reporting.
_EDGE_BOILERPLATE = re.compile(
    r"^\W*(share (this|it|on)|like this (story|article)|read more|subscribe|sign up|newsletter|follow us|"
    r"all rights reserved|copyright|©|tell us what|comments?\W*$|tags?:?\W*$|click here|advertisement|"
    r"related (articles|stories)|you may also like|recommended)|(all rights reserved|©)", re.IGNORECASE)
_EDGE_MAX_WORDS = 20
# Below this many words the precision-first extraction may have caught only a teaser or a
# paywall notice; a recall-first pass is tried and wins if it finds over twice as much.
RESCUE_WORDS = 100


def trim_edge_boilerplate(text: str) -> str:
    """Drops short furniture lines ("Share this", "Read more", "© 2020 ...") from both ends."""
    lines = text.split("\n")
    while lines and len(lines[-1].split()) < _EDGE_MAX_WORDS and _EDGE_BOILERPLATE.search(lines[-1].strip()):
        lines.pop()
    while lines and len(lines[0].split()) < _EDGE_MAX_WORDS and _EDGE_BOILERPLATE.search(lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines).strip()


def main_text(html: bytes | str, url: str, feed_content: Optional[str] = None) -> tuple[Any, str, str]:
    """(trafilatura document with metadata, main text, text_source).

    Rules, each measured on the extraction benchmark (benchmarks/extraction.py):
    1. trafilatura with ``favor_precision`` (page boilerplate is the usual error);
    2. if that finds under RESCUE_WORDS words, a ``favor_recall`` pass replaces it when
       it finds more than twice as much (``page_recall``);
    3. short furniture lines at either end are trimmed;
    4. if the page still yields under RESCUE_WORDS words and the feed item carried more
       (``content:encoded``), the feed's text is used (``feed``).
    """
    import trafilatura

    doc = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, favor_precision=True,
        # Keep the time of day: the canonical rule orders same-day copies by it.
        date_extraction_params={"outputformat": "%Y-%m-%dT%H:%M:%S%z", "original_date": True,
                                "extensive_search": True},
    )
    text = (doc.text or "").strip() if doc is not None else ""
    source = "page"
    if len(_WORD.findall(text)) < RESCUE_WORDS:
        wide = trafilatura.bare_extraction(html, url=url, include_comments=False, favor_recall=True)
        wide_text = (wide.text or "").strip() if wide is not None else ""
        if len(wide_text) > 2 * len(text):
            text, source = wide_text, "page_recall"
    text = trim_edge_boilerplate(text)
    if feed_content and len(_WORD.findall(text)) < RESCUE_WORDS:
        # html2txt wants a document; feed content is a fragment.
        feed_text = (trafilatura.html2txt(f"<html><body>{feed_content}</body></html>") or "").strip()
        if len(feed_text) > len(text):
            text, source = feed_text, "feed"
    return doc, text, source


def extract_article(page: FetchedPage) -> Article:
    """Extracts one page; raises EmptyExtraction when neither page nor feed has main text."""
    item = page.item
    doc, text, text_source = main_text(_decode(page.body, page.content_type), page.final_url, item.content)
    if not text:
        raise EmptyExtraction(f"no main text found in {len(page.body)} bytes")
    canonical = canonical_url(doc.url) if doc is not None and doc.url else item.canonical_url
    meta = doc if doc is not None else _NO_METADATA
    authors = [a.strip() for a in (meta.author or "").split(";") if a.strip()]
    tags = list(dict.fromkeys([*(meta.categories or []), *(meta.tags or [])]))
    return Article(
        article_id=article_id(canonical),
        url=page.final_url,
        canonical_url=canonical,
        feed_url=item.feed_url,
        source=meta.sitename or item.feed_name or urlsplit(canonical).hostname,
        title=meta.title or item.title,
        authors=authors or list(item.authors),
        published=pick_published(sane_iso(meta.date), item.published),
        modified=None,
        fetched_at=page.fetched_at,
        language=_language(page.body, text, item.language_hint),
        text=text,
        word_count=len(_WORD.findall(text)),
        description=meta.description,
        image_url=meta.image or item.image_url,
        tags=tags or list(item.categories),
        text_source=text_source,
        content_hash=content_hash(text),
        entities=None,
        item_url=item.canonical_url,
    )


class _NoMetadata:
    author = categories = tags = sitename = title = date = description = image = url = None


_NO_METADATA = _NoMetadata()


class _ExtractArticleFn(beam.DoFn):
    FAILED = "failed"

    def __init__(self, min_words: int):
        self._min_words = min_words
        self._received = Metrics.counter(STAGE, "received")
        self._emitted = Metrics.counter(STAGE, "emitted")
        self._failed = Metrics.counter(STAGE, "failed")
        self._too_short = Metrics.counter(STAGE, "dropped_too_short")
        self._words = Metrics.distribution(STAGE, "word_count")

    def process(self, page: FetchedPage) -> Iterator[Article]:
        self._received.inc()
        item = page.item
        try:
            article = extract_article(page)
        except Exception as exc:  # trafilatura/lxml raise many kinds on broken pages
            self._failed.inc()
            yield beam.pvalue.TaggedOutput(
                self.FAILED,
                Failure.of(STAGE, page.final_url, exc, feed_url=item.feed_url,
                           http_status=page.http_status),
            )
            return
        if article.word_count < self._min_words:
            self._too_short.inc()
            yield beam.pvalue.TaggedOutput(
                self.FAILED,
                Failure.of(STAGE, page.final_url, "too_short", feed_url=item.feed_url,
                           detail=f"{article.word_count} words < {self._min_words}",
                           severity=DROP),
            )
            return
        self._emitted.inc()
        self._words.update(article.word_count)
        yield article


class ExtractArticles(beam.PTransform):
    """Extracts articles; outputs ``articles`` (Article) and ``failed`` (Failure).

    Args:
        min_words: pages whose main text has fewer words are dropped as ``too_short``.
    """

    def __init__(self, min_words: int = 50):
        super().__init__()
        self._min_words = min_words

    def expand(self, pages):
        return pages | "ExtractArticle" >> beam.ParDo(
            _ExtractArticleFn(self._min_words)
        ).with_outputs(_ExtractArticleFn.FAILED, main="articles")
