"""Deduplicate: Article -> Article (one per story) | Duplicate.

Two exact rules, each a ``GroupByKey`` and a pick of one canonical per group:

1. ``ByCanonicalUrl``: pages fetched under different URLs that declare the same canonical
   URL (same ``article_id``) are one article (method ``url``).
2. ``ByContentHash``: different URLs whose normalised text is identical (a verbatim
   re-post) are one article (method ``exact_text``).

3. ``ByNearText``: copies with small edits (a wire story re-published with a new
   headline, a dateline, a cut ending) by MinHash-LSH, within this run and against the
   index of earlier runs (``transforms.near_duplicates``; method ``near_text``).

In a stream (``memory`` given) the three steps run within each window, and the kept
articles are then matched against earlier windows' articles kept in keyed state
(``transforms.keyed_index``; methods ``near_text``, or ``url`` for the same article
fetched again under another item URL); ``index`` then only seeds that state.

Canonical rule (deterministic, shared by all three steps): earliest ``published``
(undated last), then the longest text, then the smallest ``article_id``, then the
smallest URL; except that an article of an earlier run stays canonical.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import Article, DedupEntry, Duplicate
from transforms import _progress as progress
from transforms._joins import WithWindowValue
from transforms._keyed import KeyedMemory
from transforms._minhash import DedupConfig
from transforms._timing import timed
from transforms.keyed_index import MatchKeyedIndex
from transforms.near_duplicates import FindNearDuplicates, entry_of

__all__ = ["Deduplicate", "ResolveCanonicals", "canonical_order"]

STAGE = "dedup"
DEFAULT_NEAR = DedupConfig()


def canonical_order(article: Article) -> tuple:
    """Sort key whose minimum is the canonical article of a group."""
    return (
        article.published is None,
        article.published or "",
        -len(article.text),
        article.article_id,
        article.url,
    )


def as_duplicate(copy: Article, canonical: Article | str, method: str, similarity: float) -> Duplicate:
    """``copy`` as a duplicate of ``canonical`` (an article, or the id of one not at hand)."""
    return Duplicate(
        url=copy.url,
        article_id=copy.article_id,
        canonical_article_id=canonical if isinstance(canonical, str) else canonical.article_id,
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
        self._dropped = progress.counter(STAGE, f"dropped_{method}")

    @timed(STAGE)
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
    """Keeps one article per canonical URL, per exact text, and per near-duplicate cluster.

    Outputs ``articles`` (the canonical ones), ``duplicates`` (Duplicate rows) and
    ``index`` (DedupEntry rows that extend the cross-run near-duplicate index).

    Args:
        near: near-duplicate parameters; None skips that step.
        index: DedupEntry rows of earlier runs (may be None).
        memory: for a stream, match each window against earlier windows in keyed state
            (``index`` then seeds it); None for a batch run.
        keyed_joins: join per-window values by key, not as side inputs (streams on Flink;
            see ``transforms._joins``).
    """

    def __init__(self, near: Optional[DedupConfig] = DEFAULT_NEAR, index=None,
                 memory: Optional[KeyedMemory] = None, keyed_joins: bool = False):
        super().__init__()
        self._near = near
        self._index = index
        self._memory = memory
        self._keyed_joins = keyed_joins

    def expand(self, articles):
        by_url = articles | "ByCanonicalUrl" >> _KeepOnePerKey(lambda a: a.article_id, "url")
        by_text = by_url.articles | "ByContentHash" >> _KeepOnePerKey(
            lambda a: a.content_hash, "exact_text"
        )
        dups = [by_url.duplicates, by_text.duplicates]
        kept = by_text.articles
        if self._near is not None and self._memory is not None:
            near = kept | "ByNearText" >> FindNearDuplicates(self._near, None, keyed_joins=self._keyed_joins)
            earlier = (
                near["articles"]
                | "SignKept" >> beam.Map(lambda a, cfg: (a, entry_of(a, cfg)), self._near)
                | "AgainstEarlierWindows" >> MatchKeyedIndex(self._near, self._memory, self._index)
            )
            kept = earlier["articles"]
            dups += [near["duplicates"], earlier["duplicates"]]
            index = earlier["index"]
        elif self._near is not None:
            near = kept | "ByNearText" >> FindNearDuplicates(self._near, self._index)
            kept = near["articles"]
            dups.append(near["duplicates"])
            index = near["index"]
        else:
            # Derived from the input, so it has the input's windowing (batch or stream).
            index = articles | "NoIndex" >> beam.FlatMap(lambda _: []).with_output_types(DedupEntry)
        duplicates = tuple(dups) | "FlattenDuplicates" >> beam.Flatten()
        return {"articles": kept, "duplicates": duplicates, "index": index}


def _final_canonical(duplicate: Duplicate, redirects: dict) -> Duplicate:
    seen: set = set()
    target = duplicate.canonical_article_id
    while target in redirects and target not in seen:  # a canonical that was itself merged later
        seen.add(target)
        target = redirects[target]
    return duplicate if target == duplicate.canonical_article_id else duplicate._replace(canonical_article_id=target)


class ResolveCanonicals(beam.PTransform):
    """Duplicate -> Duplicate naming the final canonical article.

    The steps run in order (same URL, then same text, then near text), so the article a
    copy was first merged into can itself be merged later (an exact re-post of a story
    that turns out to be a near copy of an earlier one). Every row is re-pointed along
    that chain to the article that was kept. The chain links are the text duplicates
    (one per merged article), handed to every worker as a side input; with
    ``keyed_joins`` (streams on Flink), joined to the window's rows by key instead
    (``transforms._joins``).
    """

    def __init__(self, keyed_joins: bool = False):
        super().__init__()
        self._keyed_joins = keyed_joins

    def expand(self, duplicates):
        redirects = (
            duplicates
            | "TextMerges" >> beam.Filter(lambda d: d.method != "url")
            | "MergedTo" >> beam.Map(lambda d: (d.article_id, d.canonical_article_id))
        )
        if not self._keyed_joins:
            return duplicates | "RepointToFinal" >> beam.Map(_final_canonical, beam.pvalue.AsDict(redirects))
        chains = redirects | "ChainsOfWindow" >> beam.CombineGlobally(
            beam.combiners.ToDictCombineFn()).without_defaults()
        return duplicates | "RepointToFinal" >> WithWindowValue(_final_canonical, chains, {}, keyed=True,
                                                               output_type=Duplicate)
