"""MatchKeyedIndex: a stream's articles (already deduplicated within their window) ->
Article (new) | Duplicate of an article of an earlier window | DedupEntry (for OUT/state).

The stream's near-duplicate index, in keyed state, in two stateful steps so that a
signature is stored once, not once per band:

1. ``LookUpBands`` (keyed by LSH band key): each band bucket holds the ids of the
   articles that fell into it, with their window. An article is looked up and added in
   one step; every member of an *earlier* window is a candidate (the article's own window
   was already deduplicated by the batch steps).
2. ``VerifyCandidates`` (keyed by article id): holds each article's signature; an
   article registers its own there, and a candidate pair is sent to the older
   article's key, where the two signatures are compared.

Candidates at or above the threshold come back to their article by a per-window
``CoGroupByKey``: an article with any becomes a duplicate (method ``near_text``, or
``url`` when the older one is the same article id) of the earliest of them, which stays
canonical; the rest pass on and extend the index. Both steps are seeded from
``OUT/state/dedup`` (side inputs read once) and forget entries ``window_days`` after they
were indexed (event-time timers).
"""

from __future__ import annotations

from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from schemas.elements import DedupEntry
from transforms._keyed import STR_KEYED, KeyedMemory, back_into, expiry, into_global
from transforms._minhash import DedupConfig, band_keys, estimated_similarity

__all__ = ["MatchKeyedIndex"]

STAGE = "dedup"
DUPLICATES = "duplicates"
INDEX = "index"
_SEED_WINDOW = -1  # seeded entries belong to no window of this stream: always "earlier"


def _window_of(timestamp: Timestamp, memory: KeyedMemory) -> int:
    return int(timestamp.micros // int(memory.window_seconds * 1e6))


class _LookUpBandsFn(beam.DoFn):
    """(band key, (DedupEntry, window)) -> (older article id, ("candidate", new id, new entry))."""

    MEMBERS = BagStateSpec("members", PickleCoder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, window_days: float):
        self._window_days = window_days

    def process(self, keyed: tuple[str, tuple[str, int]], seed: dict, timestamp=beam.DoFn.TimestampParam,
                members=beam.DoFn.StateParam(MEMBERS), expire=beam.DoFn.TimerParam(EXPIRE)) -> Iterator:
        band, (entry, window_no) = keyed
        known = list(members.read())
        if not known:  # the bucket's first use in this stream: seed it from OUT/state
            known = [(old, _SEED_WINDOW) for old in seed[band]]
            for member in known:
                members.add(member)
        for old_id, old_window in known:
            if old_window < window_no:
                yield old_id, ("candidate", entry.article_id, entry)
        members.add((entry.article_id, window_no))
        expire.set(expiry(timestamp, self._window_days))

    @on_timer(EXPIRE)
    def forget(self, members=beam.DoFn.StateParam(MEMBERS)):
        # The timer follows the newest member: when it fires, every member is past retention.
        members.clear()


class _VerifyCandidatesFn(beam.DoFn):
    """(article id, register | candidate) -> (new id, (old id, similarity, old published))."""

    ENTRY = ReadModifyWriteStateSpec("entry", PickleCoder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, cfg: DedupConfig):
        self._cfg = cfg
        self._verified = Metrics.counter(STAGE, "index_verified_pairs")
        self._rejected = Metrics.counter(STAGE, "index_rejected_candidates")

    def process(self, keyed: tuple[str, tuple[str, Optional[str], DedupEntry]], seed: dict,
                timestamp=beam.DoFn.TimestampParam, entry_state=beam.DoFn.StateParam(ENTRY),
                expire=beam.DoFn.TimerParam(EXPIRE)) -> Iterator:
        article_id, (kind, new_id, entry) = keyed
        if kind == "register":
            entry_state.write(entry)
            expire.set(expiry(timestamp, self._cfg.window_days))
            return
        old = entry_state.read() or seed.get(article_id)
        if old is None:  # expired, or registered by a bundle not yet committed: no match
            return
        similarity = estimated_similarity(old.signature, entry.signature)
        if similarity >= self._cfg.threshold:
            self._verified.inc()
            yield new_id, (article_id, round(similarity, 4), old.published)
        else:
            self._rejected.inc()

    @on_timer(EXPIRE)
    def forget(self, entry_state=beam.DoFn.StateParam(ENTRY)):
        entry_state.clear()


def _decide(keyed: tuple[str, dict]) -> Iterator:
    from transforms.deduplicate import as_duplicate

    _, groups = keyed
    for article, entry in groups["article"]:
        matches = sorted(groups["match"], key=lambda m: (m[2] is None, m[2] or "", m[0]))
        if not matches:
            yield article
            yield beam.pvalue.TaggedOutput(INDEX, entry)
            continue
        old_id, similarity, _ = matches[0]
        method = "url" if old_id == article.article_id else "near_text"
        Metrics.counter(STAGE, f"dropped_index_{method}").inc()
        yield beam.pvalue.TaggedOutput(DUPLICATES, as_duplicate(article, _Ref(old_id), method, similarity))


class _Ref:
    def __init__(self, article_id: str):
        self.article_id = article_id


def _seed_bands(entry: DedupEntry, cfg: DedupConfig) -> list[tuple[str, str]]:
    return [(band, entry.article_id) for band in band_keys(entry.signature, cfg)]


class MatchKeyedIndex(beam.PTransform):
    """Matches a stream's (Article, DedupEntry) pairs against the articles of earlier windows.

    Outputs ``articles``, ``duplicates`` (Duplicate) and ``index`` (DedupEntry of the
    articles that stay).

    Args:
        cfg: threshold, banding and retention (``window_days``).
        memory: the stream's windows.
        seed: DedupEntry rows of ``OUT/state/dedup`` (within the retention window).
    """

    def __init__(self, cfg: DedupConfig, memory: KeyedMemory, seed):
        super().__init__()
        self._cfg = cfg
        self._memory = memory
        self._seed = seed

    def expand(self, signed):
        cfg, memory = self._cfg, self._memory
        any_seed = beam.typehints.Any
        seed_bands = beam.pvalue.AsMultiMap(self._seed | "SeedBands" >> beam.FlatMap(_seed_bands, cfg))
        seed_entries = beam.pvalue.AsDict(self._seed | "SeedEntries" >> beam.Map(lambda e: (e.article_id, e)))
        stamped = signed | "WithWindowNo" >> beam.Map(
            lambda pair, ts=beam.DoFn.TimestampParam: (pair[0], pair[1], _window_of(ts, memory)))
        # Each band lookup carries the new article's entry, so a candidate reaches the older
        # article's key with both signatures and no join is needed.
        by_band = stamped | "ByBand" >> beam.FlatMap(
            lambda t: [(band, (t[1], t[2])) for band in band_keys(t[1].signature, cfg)]).with_output_types(STR_KEYED)
        candidates = into_global(by_band, "Bands") | "LookUpBands" >> beam.ParDo(
            _LookUpBandsFn(cfg.window_days), seed_bands).with_input_types(STR_KEYED, seed=any_seed
                                                                         ).with_output_types(STR_KEYED)
        registrations = signed | "Register" >> beam.Map(
            lambda pair: (pair[1].article_id, ("register", None, pair[1]))).with_output_types(STR_KEYED)
        matches = (
            (into_global(registrations, "Registrations"), candidates)
            | "RegistrationsAndCandidates" >> beam.Flatten()
            | "VerifyCandidates" >> beam.ParDo(_VerifyCandidatesFn(cfg), seed_entries).with_input_types(
                STR_KEYED, seed=any_seed)
        )
        decided = (
            {"article": stamped | "ArticleById" >> beam.Map(lambda t: (t[0].article_id, (t[0], t[1]))),
             "match": back_into(matches, memory, "Matches")}
            | "MatchesPerArticle" >> beam.CoGroupByKey()
            | "DecideAgainstIndex" >> beam.FlatMap(_decide).with_outputs(DUPLICATES, INDEX, main="articles")
        )
        return {"articles": decided.articles, "duplicates": decided[DUPLICATES], "index": decided[INDEX]}
