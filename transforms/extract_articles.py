"""ExtractArticles: FetchedPage -> Article; drops and errors -> Failure(stage="extract").

trafilatura turns the page into clean text plus metadata. Each field has one rule for
which source wins:

  field          first choice                       fallback
  canonical_url  page (<link rel=canonical>, og:url) the feed item's canonical link
  title          page                               feed item title
  authors        page (cleaned: no "By", no outlet) feed item authors (cleaned alike)
  modified       page (htmldate, latest date)       none; kept only if after published
  published      page (sane dates only)             feed item date
  source         page site name                     feed name (YAML/OPML), then the host
  tags           page categories + tags             feed item categories
  language       <html lang>                        feed's language, then detected (py3langid)

The main text: see ``main_text`` (precision-first trafilatura, a recall-first rescue for
tiny results, edge-furniture trimming, the feed's full content as a last resort);
``text_source`` says which one won (``page``, ``page_recall``, ``feed``).

Deliberate drops (severity ``drop``): ``not_article`` when the "main text" is a list
of headlines (an index or section page), ``interstitial`` when it is mostly a wall between
the reader and the article (a login, paywall, ad-blocker or cookie notice: see
``notice_share``), ``too_short`` when it has fewer than ``min_words`` words (non-HTML
responses were dropped by FetchPages already). An ``interstitial`` or ``too_short`` item
that has a headline also leaves as a ``Headline`` (``headlines``): story grouping may still
claim it for a story by its headline (and a short text's words).
Errors: ``EmptyExtraction`` when neither page nor feed has main text, and any exception
trafilatura raises on a page.
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Any, Iterator, Optional
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import DROP, Article, Failure, FetchedPage, Headline
from schemas.timeutil import sane_iso
from transforms import _progress as progress
from transforms._timing import timed
from transforms._urls import article_id, canonical_url

__all__ = ["ExtractArticles", "extract_article", "content_hash", "notice_share", "is_interstitial"]

STAGE = "extract"
_WORD = re.compile(r"\w+", re.UNICODE)
_HTML_LANG = re.compile(rb"<html[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
_CHARSET = re.compile(r"charset=[\"']?([\w-]+)", re.IGNORECASE)


class EmptyExtraction(Exception):
    pass


class NotAnArticle(Exception):
    """A deliberate drop: the page is an index or section page."""


class Interstitial(Exception):
    """A deliberate drop: the page's main text is a login, paywall, ad-blocker or cookie
    notice, not the article. Carries what the page still says about the article: its
    metadata's title and publication time (a paywalled page keeps its tags)."""

    def __init__(self, message: str, title: Optional[str] = None, published: Optional[str] = None):
        super().__init__(message)
        self.title, self.published = title, published


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def count_words(text: str) -> int:
    """Words, with each Chinese/Japanese/Korean character counted as one (those scripts
    do not separate words with spaces, so a whole sentence would otherwise count as one)."""
    return sum(len(_CJK.findall(token)) or 1 for token in _WORD.findall(text))


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


# Interstitials. trafilatura takes a login wall, paywall, ad-blocker or cookie notice for
# the main text when that is all the page shows, and none of the libraries used here
# tells one apart, hence these patterns: a sentence is a notice when it speaks about access
# to the site (logging in, subscribing to it, ad blockers, enabling cookies or JavaScript).
# A page is an interstitial when such sentences are at least INTERSTITIAL_SHARE of its
# words: an article that mentions a newsletter, or is about subscriptions or cookies, stays
# well below. benchmarks/interstitials.py measures it: on the extraction benchmark's 181
# real articles the highest share is 0.085; on the texts of the stories file, six login,
# paywall, ad-blocker and cookie walls score 0.50-0.92 (a seventh, a 34-word login wall,
# 0.48: too short anyway) and the highest real article 0.32 (a newsletter sign-up box in it).
_WALL = re.compile(
    r"\b(log(ging)? ?(in|out)|sign(ing)? ?in|sign up now|already a (subscriber|member)|"
    r"subscribe (now|today|to continue)|click (here|below) to (register|subscribe|log ?in|sign ?in)|"
    r"create (a|an|your) (free |online )?account|(unlimited|free) (digital )?access|free articles?|"
    r"(continue|keep) reading|"
    r"ad ?blocker|blocking ads|(enable|disable)d? javascript|javascript (is )?(disabled|required)|"
    r"user agreement|password|username)\b", re.IGNORECASE)
_COOKIE = re.compile(r"\bcookies?\b", re.IGNORECASE)
_COOKIE_CONTEXT = re.compile(r"\b(website|site|browser|settings|third.party|consent|policy|enabled?)\b",
                             re.IGNORECASE)
_SUBSCRIBE = re.compile(r"\bsubscri(be|bing|ber|bers|ption)\b", re.IGNORECASE)
_SUBSCRIBE_CONTEXT = re.compile(r"\b(our|access|account)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
INTERSTITIAL_SHARE = 0.5


def _is_notice(sentence: str) -> bool:
    return bool(_WALL.search(sentence)
                or (_COOKIE.search(sentence) and _COOKIE_CONTEXT.search(sentence))
                or (_SUBSCRIBE.search(sentence) and _SUBSCRIBE_CONTEXT.search(sentence)))


def notice_share(text: str) -> float:
    """The share of the text's words that are in sentences about access to the site
    (login, paywall, ad-blocker, cookie or JavaScript notices); 0.0 for an empty text."""
    notice = total = 0
    for sentence in _SENTENCE.findall(text):
        words = len(sentence.split())
        total += words
        if words and _is_notice(sentence):
            notice += words
    return notice / total if total else 0.0


def is_interstitial(text: str) -> bool:
    return notice_share(text) >= INTERSTITIAL_SHARE


def trim_edge_boilerplate(text: str) -> str:
    """Drops short furniture lines ("Share this", "Read more", "© 2020 ...") from both ends."""
    lines = text.split("\n")
    while lines and len(lines[-1].split()) < _EDGE_MAX_WORDS and _EDGE_BOILERPLATE.search(lines[-1].strip()):
        lines.pop()
    while lines and len(lines[0].split()) < _EDGE_MAX_WORDS and _EDGE_BOILERPLATE.search(lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines).strip()


def main_text(html: Any, url: str, feed_content: Optional[str] = None) -> tuple[Any, str, str]:
    """(trafilatura document with metadata, main text, text_source).

    Rules, each measured on the extraction benchmark (benchmarks/extraction.py):
    1. trafilatura with ``favor_precision`` (page boilerplate is the usual error);
    2. if that finds under RESCUE_WORDS words, a ``favor_recall`` pass replaces it when
       it finds more than twice as much (``page_recall``);
    3. short furniture lines at either end are trimmed;
    4. if the page still yields under RESCUE_WORDS words, or only an interstitial (a
       login, paywall, ad-blocker or cookie notice), and the feed item carried more
       (``content:encoded``) that is not one, the feed's text is used (``feed``).
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
    if count_words(text) < RESCUE_WORDS:
        wide = trafilatura.bare_extraction(html, url=url, include_comments=False, favor_recall=True)
        wide_text = (wide.text or "").strip() if wide is not None else ""
        if len(wide_text) > 2 * len(text):
            text, source = wide_text, "page_recall"
    text = trim_edge_boilerplate(text)
    wall = bool(feed_content) and is_interstitial(text)
    if feed_content and (count_words(text) < RESCUE_WORDS or wall):
        # html2txt wants a document; feed content is a fragment.
        feed_text = (trafilatura.html2txt(f"<html><body>{feed_content}</body></html>") or "").strip()
        better = len(feed_text) > len(text) or (bool(feed_text) and wall)
        if better and not is_interstitial(feed_text):
            text, source = feed_text, "feed"
    return doc, text, source


_BYLINE = re.compile(r"^\s*(by|von|par|por|door)\s*:?\s+", re.IGNORECASE)
_AUTHOR_SPLIT = re.compile(r"\s*(?:;|,|\||&|\band\b|\bund\b|\bet\b|\by\b)\s*", re.IGNORECASE)


def clean_authors(raw: list[str], outlets: set[str]) -> list[str]:
    """Author names without "By", split on separators, without the outlet's own name,
    e-mail addresses or URLs, deduplicated in order."""
    outlets = {o.casefold() for o in outlets if o}
    names: list[str] = []
    for entry in raw:
        for part in _AUTHOR_SPLIT.split(_BYLINE.sub("", entry or "")):
            name = _BYLINE.sub("", part).strip(" .-–—|")
            if not name or "@" in name or "://" in name or name.casefold() in outlets:
                continue
            if not any(c.isalpha() for c in name) or len(name.split()) > 6:
                continue
            names.append(name)
    return list(dict.fromkeys(names))


_ARTICLE_TYPES = {"article", "newsarticle", "blogposting", "reportagenewsarticle", "analysisnewsarticle",
                  "opinionnewsarticle", "liveblogposting"}


def is_index_page(text: str, short_line_ratio: float, pagetype: Optional[str] = None) -> bool:
    """A section or home page: not declared an article (og:type / schema.org) and its "main
    text" is a list of headlines: at least 8 lines, ``short_line_ratio`` of them 12 words
    or fewer, none of 40 or more. (On the extraction benchmark's 181 real articles this
    flags one, a racing calendar page typed ``website``.)"""
    if (pagetype or "").lower() in _ARTICLE_TYPES:
        return False
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < 8:
        return False
    lengths = [len(line.split()) for line in lines]
    short = sum(n <= 12 for n in lengths) / len(lengths)
    return short >= short_line_ratio and max(lengths) < 40


def _parsed(html: bytes | str) -> Any:
    """The page parsed once, as trafilatura parses it (its charset guess, its repairs), for
    both trafilatura and htmldate: given bytes or a string, each decoded and parsed the page
    again (the second parse was about a tenth of extraction's CPU on the cores corpus: 6.65
    -> 6.0 ms per page in a one-off timing). Each copies a tree it is given before changing
    it. Where trafilatura would refuse the page (not HTML, over its size limit), the page
    goes on as it came, so the outcome and its error stay trafilatura's own."""
    from trafilatura.settings import DEFAULT_CONFIG
    from trafilatura.utils import load_html

    try:
        tree = load_html(html, DEFAULT_CONFIG.getint("DEFAULT", "MAX_FILE_SIZE"))
    except Exception:  # decompression over the limit and the like
        return html
    return html if tree is None else tree


def _latest_date(page: Any) -> Optional[str]:
    """The page's latest date (htmldate), a candidate for ``modified``."""
    from htmldate import find_date

    try:
        return sane_iso(find_date(page, original_date=False, extensive_search=False,
                                  outputformat="%Y-%m-%dT%H:%M:%S%z"))
    except Exception:  # htmldate on a hostile page: no date rather than no article
        return None


# trafilatura (lxml underneath) crashes the whole process now and then (SIGABRT "free():
# invalid pointer", or SIGSEGV) when it runs in several threads at once: adbar/trafilatura#840
# and #925, open. Runners that run bundles in threads (Prism's and Flink's SDK workers) did that
# here: a stream died twice in about 25 runs of its benchmark. One extraction at a time per
# process costs nothing that the GIL did not already take.
_TRAFILATURA = threading.Lock()


def extract_article(page: FetchedPage, index_line_ratio: float = 0.8) -> Article:
    """Extracts one page; raises EmptyExtraction when neither page nor feed has main text
    and NotAnArticle for an index or section page. Safe to call from several threads."""
    item = page.item
    html = _decode(page.body, page.content_type)
    with _TRAFILATURA:
        parsed = _parsed(html)
        doc, text, text_source = main_text(parsed, page.final_url, item.content)
        latest = _latest_date(parsed) if text else None
    if not text:
        raise EmptyExtraction(f"no main text found in {len(page.body)} bytes")
    share = notice_share(text)
    if share >= INTERSTITIAL_SHARE:
        meta = doc if doc is not None else _NO_METADATA
        raise Interstitial(f"{share:.0%} of the main text's words are a login, paywall, ad-blocker or cookie "
                           "notice", meta.title, pick_published(sane_iso(meta.date), item.published))
    if is_index_page(text, index_line_ratio, getattr(doc, "pagetype", None)):
        raise NotAnArticle("the main text is a list of short lines (an index or section page)")
    canonical = canonical_url(doc.url) if doc is not None and doc.url else item.canonical_url
    meta = doc if doc is not None else _NO_METADATA
    source = meta.sitename or item.feed_name or urlsplit(canonical).hostname
    outlets = {source, item.feed_name or "", urlsplit(canonical).hostname or ""}
    authors = clean_authors([meta.author or ""], outlets) or clean_authors(list(item.authors), outlets)
    tags = list(dict.fromkeys([*(meta.categories or []), *(meta.tags or [])]))
    published = pick_published(sane_iso(meta.date), item.published)
    return Article(
        article_id=article_id(canonical),
        url=page.final_url,
        canonical_url=canonical,
        feed_url=item.feed_url,
        source=source,
        title=(meta.title or item.title or "").strip() or None,
        authors=authors,
        published=published,
        modified=latest if latest and (published is None or latest > published) else None,
        fetched_at=page.fetched_at,
        language=_language(page.body, text, item.language_hint),
        text=text,
        word_count=count_words(text),
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


def wall_headline(page: FetchedPage, wall: Interstitial) -> Optional[Headline]:
    """The headline of an item whose page is a wall: the feed item's title (a wall's page
    shows the site's name as often as the article's), else the page's; the page's
    publication time (as for an article), else the fetch time; the page's declared
    language, else the title's."""
    item = page.item
    title = (item.title or wall.title or "").strip()
    if not title:
        return None
    return Headline(page.final_url, item.feed_url, item.feed_name or urlsplit(page.final_url).hostname, title, "",
                    wall.published or page.fetched_at, _language(page.body, title, item.language_hint))


def short_headline(page: FetchedPage, article: Article) -> Optional[Headline]:
    """A too short article's headline and words (both are the outlet's report)."""
    if not article.title:
        return None
    return Headline(page.final_url, article.feed_url, article.source, article.title, article.text,
                    article.published or article.fetched_at, article.language)


class _ExtractArticleFn(beam.DoFn):
    FAILED = "failed"
    HEADLINES = "headlines"

    def __init__(self, min_words: int, index_line_ratio: float):
        self._min_words = min_words
        self._index_line_ratio = index_line_ratio
        self._not_article = Metrics.counter(STAGE, "dropped_not_article")
        self._received = Metrics.counter(STAGE, "received")
        self._emitted = progress.counter(STAGE, "emitted")
        self._failed = Metrics.counter(STAGE, "failed")
        self._too_short = Metrics.counter(STAGE, "dropped_too_short")
        self._interstitial = Metrics.counter(STAGE, "dropped_interstitial")
        self._words = Metrics.distribution(STAGE, "word_count")

    @timed(STAGE)
    def process(self, page: FetchedPage) -> Iterator[Article]:
        self._received.inc()
        item = page.item
        try:
            article = extract_article(page, self._index_line_ratio)
        except (NotAnArticle, Interstitial) as exc:
            reason = "interstitial" if isinstance(exc, Interstitial) else "not_article"
            (self._interstitial if reason == "interstitial" else self._not_article).inc()
            yield beam.pvalue.TaggedOutput(
                self.FAILED,
                Failure.of(STAGE, page.final_url, reason, feed_url=item.feed_url, detail=str(exc), severity=DROP),
            )
            headline = wall_headline(page, exc) if isinstance(exc, Interstitial) else None
            if headline is not None:
                yield beam.pvalue.TaggedOutput(self.HEADLINES, headline)
            return
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
            headline = short_headline(page, article)
            if headline is not None:
                yield beam.pvalue.TaggedOutput(self.HEADLINES, headline)
            return
        self._emitted.inc()
        self._words.update(article.word_count)
        yield article


class ExtractArticles(beam.PTransform):
    """Extracts articles; outputs ``articles`` (Article), ``failed`` (Failure) and
    ``headlines`` (Headline: the dropped walls and too short texts that have a headline).

    Args:
        min_words: pages whose main text has fewer words are dropped as ``too_short``.
        index_line_ratio: pages whose text is at least this share of short lines (a list
            of headlines) are dropped as ``not_article``; above 1.0 turns the check off.
    """

    def __init__(self, min_words: int = 50, index_line_ratio: float = 0.8):
        super().__init__()
        self._min_words = min_words
        self._index_line_ratio = index_line_ratio

    def expand(self, pages):
        return pages | "ExtractArticle" >> beam.ParDo(
            _ExtractArticleFn(self._min_words, self._index_line_ratio)
        ).with_outputs(_ExtractArticleFn.FAILED, _ExtractArticleFn.HEADLINES, main="articles")
