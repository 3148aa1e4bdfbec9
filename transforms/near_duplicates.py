"""FindNearDuplicates: Article -> Article (one per copy cluster) | Duplicate(method="near_text")
| DedupEntry (this run's canonical articles, for the cross-run index).

A Beam graph, in the named steps of the classic method (parameters and their miss and
false-candidate rates: ``transforms._minhash``):

1. ``ComputeSignatures``: word shingles -> MinHash signature (rensa) per article.
2. ``BandByLsh``: each signature (and each entry of earlier runs' index, within the
   retention window) is keyed by its band keys; ``GroupByKey`` per band key gives the
   candidate pairs (pairs of two old entries are skipped: history is not rewritten).
3. ``LinkCandidates``: candidate pairs whose signatures agree on at least
   ``threshold - 0.2`` are linked; union-find over those links gives provisional groups,
   as a combiner (``ComponentsFn``): each worker merges its own links into a forest and
   the forests are merged; the articles themselves never go through one key.
4. ``ResolveGroups``: the articles of each group (routed there with the small id -> group
   map as a side input) meet in one ``GroupByKey`` element;
   pairs are verified (exact shingle Jaccard between this run's articles, signature
   agreement against old entries), connected components of the verified pairs are the
   copy clusters, and each cluster keeps one canonical: an article of an earlier run if
   the cluster has one (it stays canonical), else the earliest published, then the
   longest text, then the smallest id (``deduplicate.canonical_order``).

Articles that no candidate pair touches pass straight through, untouched.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Iterator, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import Article, DedupEntry
from schemas.timeutil import parse_iso, utc_now_iso
from transforms import _progress as progress
from transforms._joins import WithWindowValue
from transforms._minhash import (
    ComponentsFn,
    DedupConfig,
    band_keys,
    components,
    estimated_similarity,
    jaccard,
    shingles,
    signature,
)
from transforms._timing import timed

__all__ = ["FindNearDuplicates", "within_window", "entry_of"]

STAGE = "dedup"
DUPLICATES = "duplicates"
INDEX = "index"
_LINK_MARGIN = 0.2


def within_window(entry: DedupEntry, window_days: int, now: Optional[dt.datetime] = None) -> bool:
    indexed = parse_iso(entry.indexed_at)
    now = now or dt.datetime.now(dt.timezone.utc)
    return indexed is not None and indexed >= now - dt.timedelta(days=window_days)


def entry_of(article: Article, cfg: DedupConfig) -> DedupEntry:
    return DedupEntry(article.article_id, article.published,
                      signature(shingles(article.text, cfg.shingle_size), cfg), utc_now_iso())


def _bucket_pairs(keyed: tuple[str, Iterable[tuple[str, bool]]], max_bucket: int
                  ) -> Iterator[tuple[str, str]]:
    """Candidate pairs (sorted ids) of one band bucket; members are (article id, is_new)."""
    _, members = keyed
    members = sorted(set(members))
    if len(members) > max_bucket:
        Metrics.counter(STAGE, "hot_buckets").inc()
        head = members[0]
        members_pairs = ((head, m) for m in members[1:])
    else:
        members_pairs = ((a, b) for i, a in enumerate(members) for b in members[i + 1:])
    for (a, a_new), (b, b_new) in members_pairs:
        if a_new or b_new:
            yield (a, b)


def _count_groups(groups: dict) -> dict:
    Metrics.counter(STAGE, "near_groups").inc(len(set(groups.values())))
    return groups


class _ResolveGroupFn(beam.DoFn):
    """One provisional group -> canonical articles, near_text duplicates, index entries."""

    def __init__(self, cfg: DedupConfig):
        self._cfg = cfg
        self._dropped = progress.counter(STAGE, "dropped_near_text")
        self._verified = Metrics.counter(STAGE, "verified_pairs")
        self._rejected = Metrics.counter(STAGE, "rejected_candidates")

    @timed(STAGE)
    def process(self, keyed: tuple[str, Iterable[tuple]]) -> Iterator:
        from transforms.deduplicate import as_duplicate, canonical_order

        _, members = keyed
        new: dict[str, Article] = {}
        entries: dict[str, DedupEntry] = {}
        old: dict[str, DedupEntry] = {}
        for kind, obj, entry in members:
            if kind == "new":
                new[obj.article_id], entries[obj.article_id] = obj, entry
            else:
                old[obj.article_id] = obj
        old = {i: e for i, e in old.items() if i not in new}  # an article fetched again (--refetch)
        sigs = {i: e.signature for i, e in entries.items()} | {i: e.signature for i, e in old.items()}
        sets = {i: shingles(a.text, self._cfg.shingle_size) for i, a in new.items()}
        ids = sorted([*new, *old])
        edges, sim = [], {}
        for x_pos, x in enumerate(ids):
            for y in ids[x_pos + 1:]:
                if x in old and y in old:
                    continue
                s = jaccard(sets[x], sets[y]) if x in new and y in new else \
                    estimated_similarity(sigs[x], sigs[y])
                if s >= self._cfg.threshold:
                    edges.append((x, y))
                    sim[(x, y)] = sim[(y, x)] = s
                    self._verified.inc()
                else:
                    self._rejected.inc()
        clusters: dict[str, list[str]] = {}
        for node, root in components(edges).items():
            clusters.setdefault(root, []).append(node)
        clustered = set()
        for nodes in clusters.values():
            clustered.update(nodes)
            olds = [n for n in nodes if n in old]
            if olds:
                canonical_id = min(olds, key=lambda n: (old[n].published is None, old[n].published or "", n))
            else:
                canonical_id = min((new[n] for n in nodes), key=canonical_order).article_id
            for n in nodes:
                if n == canonical_id or n not in new:
                    continue
                s = sim.get((n, canonical_id))
                if s is None:  # linked through another copy: measure against the canonical itself
                    s = jaccard(sets[n], sets[canonical_id]) if canonical_id in new else \
                        estimated_similarity(sigs[n], sigs[canonical_id])
                self._dropped.inc()
                canonical = new.get(canonical_id) or canonical_id
                yield beam.pvalue.TaggedOutput(DUPLICATES, as_duplicate(new[n], canonical, "near_text",
                                                                        round(s, 4)))
            if canonical_id in new:
                yield new[canonical_id]
                yield beam.pvalue.TaggedOutput(INDEX, entries[canonical_id])
        for n, article in new.items():
            if n not in clustered:  # a rejected candidate: stands alone
                yield article
                yield beam.pvalue.TaggedOutput(INDEX, entries[n])


def _route(pair: tuple[Article, DedupEntry], groups: dict) -> Iterator:
    """An article to its group, or straight through when no candidate pair touches it."""
    article, entry = pair
    group = groups.get(article.article_id)
    if group is None:
        yield article
        yield beam.pvalue.TaggedOutput(INDEX, entry)
    else:
        yield beam.pvalue.TaggedOutput("grouped", (group, ("new", article, entry)))


def _old_in_group(entry: DedupEntry, groups: dict) -> Iterator:
    group = groups.get(entry.article_id)
    if group is not None:
        yield (group, ("old", entry, None))


class FindNearDuplicates(beam.PTransform):
    """Near-duplicate detection within this run and against earlier runs' index.

    Outputs ``articles`` (canonical or unique), ``duplicates`` (Duplicate, ``near_text``)
    and ``index`` (DedupEntry for this run's articles that stay, to extend the index).

    Args:
        cfg: threshold, shingling, MinHash and banding parameters, retention window.
        index: PCollection of DedupEntry from earlier runs (may be empty).
        keyed_joins: join the group map to the articles by key, not as a side input
            (streams; see ``transforms._joins``).
    """

    def __init__(self, cfg: DedupConfig, index=None, keyed_joins: bool = False):
        super().__init__()
        self._cfg = cfg
        self._index = index
        self._keyed_joins = keyed_joins

    def expand(self, articles):
        cfg = self._cfg
        index = self._index
        if index is None:
            # Derived from the input, so it has the input's windowing (batch or stream).
            index = articles | "NoIndex" >> beam.FlatMap(lambda _: []).with_output_types(DedupEntry)
        current = index | "WithinWindow" >> beam.Filter(within_window, cfg.window_days)
        signed = articles | "ComputeSignatures" >> beam.Map(lambda a: (a, entry_of(a, cfg)))
        members = (
            (signed | "NewMembers" >> beam.Map(lambda pair: (pair[1], True)),
             current | "OldMembers" >> beam.Map(lambda entry: (entry, False)))
            | "AllMembers" >> beam.Flatten()
        )
        links = (
            members
            | "BandByLsh" >> beam.FlatMap(
                lambda m: [(key, (m[0].article_id, m[1])) for key in band_keys(m[0].signature, cfg)])
            | "GroupByBand" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.FlatMap(_bucket_pairs, cfg.max_bucket)
            | "DistinctPairs" >> beam.Distinct()
        )
        sigs = members | "SignatureById" >> beam.Map(lambda m: (m[0].article_id, m[0].signature))
        close = (
            {"pair": links | "KeyByFirst" >> beam.Map(lambda p: (p[0], p[1])), "sig": sigs}
            | "JoinFirst" >> beam.CoGroupByKey()
            | "WithFirstSig" >> beam.FlatMap(
                lambda kv: [(b, (kv[0], kv[1]["sig"][0])) for b in kv[1]["pair"]] if kv[1]["sig"] else [])
        )
        close = (
            {"pair": close, "sig": sigs}
            | "JoinSecond" >> beam.CoGroupByKey()
            | "LinkCandidates" >> beam.FlatMap(
                lambda kv: [(a, kv[0]) for a, sig_a in kv[1]["pair"] for sig_b in kv[1]["sig"][:1]
                            if estimated_similarity(sig_a, sig_b) >= cfg.threshold - _LINK_MARGIN])
        )
        groups = (
            close
            | "UnionFind" >> beam.CombineGlobally(ComponentsFn()).without_defaults()
            | "CountGroups" >> beam.Map(_count_groups)
        )
        # Groups hold only the articles some candidate pair touched: few, so every worker
        # gets the id -> group map as a side input and the articles are not shuffled for it
        # (in a stream, `keyed_joins`: a keyed join per window, see transforms._joins).
        routed = signed | "Route" >> WithWindowValue(_route, groups, {}, keyed=self._keyed_joins, flat=True,
                                                     outputs=("grouped", INDEX), main="alone")
        old_grouped = current | "OldInGroups" >> WithWindowValue(_old_in_group, groups, {}, keyed=self._keyed_joins,
                                                                 flat=True)
        grouped = (routed.grouped, old_grouped) | "GroupedMembers" >> beam.Flatten()
        resolved = (
            grouped
            | "GroupMembers" >> beam.GroupByKey()
            | "ResolveGroups" >> beam.ParDo(_ResolveGroupFn(cfg)).with_outputs(DUPLICATES, INDEX, main="kept")
        )
        return {
            "articles": (routed.alone, resolved.kept) | "FlattenKept" >> beam.Flatten(),
            "duplicates": resolved[DUPLICATES],
            "index": (routed[INDEX], resolved[INDEX]) | "FlattenIndex" >> beam.Flatten(),
        }
