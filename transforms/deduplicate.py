"""Deduplicate: Article -> Article (one per story) | Duplicate.

Two exact rules, each a ``GroupByKey`` and a pick of one canonical per group:

1. ``ByCanonicalUrl``: pages fetched under different URLs that declare the same canonical
   URL (same ``article_id``) are one article (method ``url``).
2. ``ByContentHash``: different URLs whose normalised text is identical (a verbatim
   re-post) are one article (method ``exact_text``).

Canonical rule (deterministic, shared with the near-duplicate stage to come): earliest
``published`` (undated last), then the longest text, then the smallest ``article_id``,
then the smallest URL. Near-duplicates will plug in as a third step after these two
(``ComputeSignatures | BandByLsh | ...``) with the same ``_split_group`` contract.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import Article, Duplicate

__all__ = ["Deduplicate", "canonical_order"]

STAGE = "dedup"


def canonical_order(article: Article) -> tuple:
    """Sort key whose minimum is the canonical article of a group."""
    return (
        article.published is None,
        article.published or "",
        -len(article.text),
        article.article_id,
        article.url,
    )


def as_duplicate(copy: Article, canonical: Article, method: str, similarity: float) -> Duplicate:
    return Duplicate(
        url=copy.url,
        article_id=copy.article_id,
        canonical_article_id=canonical.article_id,
        method=method,
        similarity=similarity,
        feed_url=copy.feed_url,
        source=copy.source,
        title=copy.title,
        published=copy.published,
        fetched_at=copy.fetched_at,
    )


class _SplitGroupFn(beam.DoFn):
    """Emits a group's canonical article and turns the rest into Duplicate rows."""

    DUPLICATES = "duplicates"

    def __init__(self, method: str):
        self._method = method
        self._received = Metrics.counter(STAGE, f"received_{method}")
        self._dropped = Metrics.counter(STAGE, f"dropped_{method}")

    def process(self, keyed: tuple[str, Iterable[Article]]) -> Iterator[Article]:
        _, group = keyed
        canonical, *copies = sorted(group, key=canonical_order)
        self._received.inc(1 + len(copies))
        yield canonical
        for copy in copies:
            self._dropped.inc()
            yield beam.pvalue.TaggedOutput(
                self.DUPLICATES, as_duplicate(copy, canonical, self._method, 1.0)
            )


class _KeepOnePerKey(beam.PTransform):
    """Groups articles by ``key_fn`` and keeps the canonical one of each group."""

    def __init__(self, key_fn: Callable[[Article], str], method: str):
        super().__init__()
        self._key_fn = key_fn
        self._method = method

    def expand(self, articles):
        return (
            articles
            | "Key" >> beam.WithKeys(self._key_fn)
            | "Group" >> beam.GroupByKey()
            | "Split"
            >> beam.ParDo(_SplitGroupFn(self._method)).with_outputs(
                _SplitGroupFn.DUPLICATES, main="articles"
            )
        )


class Deduplicate(beam.PTransform):
    """Keeps one article per canonical URL and per exact text.

    Outputs ``articles`` (the canonical ones) and ``duplicates`` (Duplicate rows).
    """

    def expand(self, articles):
        by_url = articles | "ByCanonicalUrl" >> _KeepOnePerKey(lambda a: a.article_id, "url")
        by_text = by_url.articles | "ByContentHash" >> _KeepOnePerKey(
            lambda a: a.content_hash, "exact_text"
        )
        duplicates = (by_url.duplicates, by_text.duplicates) | "FlattenDuplicates" >> beam.Flatten()
        return {"articles": by_text.articles, "duplicates": duplicates}
