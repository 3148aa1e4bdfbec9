"""MatchKeyedIndex: a stream's articles (already deduplicated within their window) ->
Article (new) | Duplicate of an article of an earlier window | DedupEntry (for OUT/state).

The stream's near-duplicate index, in keyed state, in two stateful steps so that a
signature is stored once, not once per band:

1. ``LookUpBands`` (keyed by LSH band key): each band bucket holds the ids of the
   articles (and seeded entries) that fell into it, with their window. An arriving
   article is sent, as a candidate, to the key of every member from another window (its
   own window was already deduplicated by the batch steps), then joins the bucket.
2. ``VerifyCandidates`` (keyed by article id): holds each article's signature, which the
   article registers there; a candidate arrives carrying the other article's entry, the
   two signatures are compared (a candidate that arrives before the registration waits
   for it), and a match is sent to the newer of the two, in its window.

Both steps are symmetric, so the order in which the runner delivers articles and seeds
does not change the outcome.

Candidates at or above the threshold come back to their article by a per-window
``CoGroupByKey``: an article with any becomes a duplicate (method ``near_text``, or
``url`` when the older one is the same article id) of the earliest of them, which stays
canonical; the rest pass on and extend the index. Both steps are seeded from
``OUT/state/dedup`` (its entries enter as elements, at their indexing time) and forget
entries ``window_days`` after they were indexed (event-time timers; a pair further apart
than that is never matched, whatever order the runner delivers them in).
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Optional

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from schemas.elements import DedupEntry
from schemas.timeutil import parse_iso
from transforms import _progress as progress
from transforms._keyed import DAY, STR_KEYED, KeyedMemory, back_into, expiry, into_global
from transforms._minhash import DedupConfig, band_keys, estimated_similarity
from transforms._timing import timed

__all__ = ["MatchKeyedIndex"]

STAGE = "dedup"
DUPLICATES = "duplicates"
INDEX = "index"
SAME_ARTICLE = "same_article"
_SEED_WINDOW = -1  # seeded entries belong to no window of this stream: always "earlier"


class _Seen(NamedTuple):
    """An article as the index steps pass it around: entry, window number, event time."""

    entry: DedupEntry
    window_no: int
    micros: Optional[int]


class _LookUpBandsFn(beam.DoFn):
    """(band key, _Seen) -> (member id, ("candidate", _Seen)) for each member of the bucket
    from another window, and a direct ``url`` match for the same article in another window.

    Symmetric, so arrival order does not matter: whichever of two articles arrives second
    sends itself to the first one's key (seeds from OUT/state arrive like any article).
    """

    MEMBERS = BagStateSpec("members", PickleCoder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, window_days: float):
        self._window_days = window_days

    @timed(STAGE)
    def process(self, keyed: tuple[str, _Seen], timestamp=beam.DoFn.TimestampParam,
                members=beam.DoFn.StateParam(MEMBERS), expire=beam.DoFn.TimerParam(EXPIRE)) -> Iterator:
        _, seen = keyed
        article_id = seen.entry.article_id
        known = list(members.read())
        for member_id, member_window, member_micros in known:
            if member_window == seen.window_no:
                continue  # the same window was deduplicated by the batch steps (or both are seeds)
            if member_id == article_id:  # the same article again, in another window
                newer_micros = seen.micros if seen.window_no > member_window else member_micros
                yield beam.pvalue.TaggedOutput(SAME_ARTICLE, TimestampedValue(
                    (article_id, (article_id, 1.0, None)), Timestamp(micros=newer_micros)))
                continue
            # Sent to the member's key, where its signature is.
            yield member_id, ("candidate", seen)
        members.add((article_id, seen.window_no, seen.micros))
        # The timer follows the newest live member (no state read to compare: live articles
        # come in event-time order); a seed, older than any live article, only starts one.
        if seen.window_no != _SEED_WINDOW or not known:
            expire.set(expiry(timestamp, self._window_days))

    @on_timer(EXPIRE)
    def forget(self, fired=beam.DoFn.TimestampParam, members=beam.DoFn.StateParam(MEMBERS)):
        retention = int(self._window_days * DAY * 1e6)
        alive = [m for m in members.read() if m[2] + retention > fired.micros]
        members.clear()
        for member in alive:  # none, unless a seed arrived after a live article (kept, not lost)
            members.add(member)


class _VerifyCandidatesFn(beam.DoFn):
    """(article id, ("register" | "candidate", _Seen)) -> (newer id, (older id, similarity,
    older published)), timestamped in the newer article's window."""

    ENTRY = ReadModifyWriteStateSpec("entry", PickleCoder())
    PENDING = BagStateSpec("pending", PickleCoder())
    EXPIRE = TimerSpec("expire", TimeDomain.WATERMARK)

    def __init__(self, cfg: DedupConfig):
        self._cfg = cfg
        self._max_gap = int(cfg.window_days * DAY * 1e6)
        self._verified = Metrics.counter(STAGE, "index_verified_pairs")
        self._rejected = Metrics.counter(STAGE, "index_rejected_candidates")

    @timed(STAGE)
    def process(self, keyed: tuple[str, tuple[str, _Seen]], timestamp=beam.DoFn.TimestampParam,
                entry_state=beam.DoFn.StateParam(ENTRY), pending=beam.DoFn.StateParam(PENDING),
                expire=beam.DoFn.TimerParam(EXPIRE)) -> Iterator:
        _, (kind, seen) = keyed
        if kind == "register":
            entry_state.write(seen)
            expire.set(expiry(timestamp, self._cfg.window_days))  # the article's own retention
            for waiting in pending.read():  # candidates that arrived before the registration
                yield from self._compare(seen, waiting)
            pending.clear()
            return
        own = entry_state.read()
        if own is None:  # its registration is not processed yet: wait for it (or expire)
            pending.add(seen)
            expire.set(expiry(timestamp, self._cfg.window_days))
            return
        yield from self._compare(own, seen)

    def _compare(self, a: _Seen, b: _Seen) -> Iterator:
        older, newer = (a, b) if a.window_no < b.window_no else (b, a)
        if newer.micros - older.micros > self._max_gap:
            return  # the older one had expired by the newer one's time (whatever the arrival order)
        similarity = estimated_similarity(a.entry.signature, b.entry.signature)
        if similarity < self._cfg.threshold:
            self._rejected.inc()
            return
        self._verified.inc()
        yield TimestampedValue(
            (newer.entry.article_id, (older.entry.article_id, round(similarity, 4), older.entry.published)),
            Timestamp(micros=newer.micros))

    @on_timer(EXPIRE)
    def forget(self, entry_state=beam.DoFn.StateParam(ENTRY), pending=beam.DoFn.StateParam(PENDING)):
        entry_state.clear()
        pending.clear()


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
        progress.counter(STAGE, f"dropped_index_{method}").inc()
        yield beam.pvalue.TaggedOutput(DUPLICATES, as_duplicate(article, old_id, method, similarity))


def _seed_seen(entry: DedupEntry) -> TimestampedValue:
    """A seeded entry as a _Seen of no window, at its indexing time (so it expires on time)."""
    indexed = parse_iso(entry.indexed_at)
    micros = int(indexed.timestamp() * 1e6) if indexed else 0
    return TimestampedValue(_Seen(entry, _SEED_WINDOW, micros), Timestamp(micros=micros))


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
        # Seeds enter as elements, not side inputs: Prism 2.77 loses state and elements of a
        # stateful DoFn that has a side input (seen here; apache/beam#36563 is a kin).
        seeds = self._seed | "SeedsAsSeen" >> beam.Map(_seed_seen)
        live = signed | "WithWindowNo" >> beam.Map(
            lambda pair, ts=beam.DoFn.TimestampParam: (pair[0], _Seen(pair[1], memory.window_no(ts), ts.micros)))
        seen = (
            (into_global(live | "SeenOfLive" >> beam.Map(lambda t: t[1]), "Live"), seeds)
            | "AllSeen" >> beam.Flatten()
        )
        # Each band lookup carries the article's entry, so a candidate reaches the other
        # article's key with both signatures and no join is needed.
        looked_up = (
            seen
            | "ByBand" >> beam.FlatMap(lambda s: [(band, s) for band in band_keys(s.entry.signature, cfg)]
                                       ).with_output_types(STR_KEYED)
            | "LookUpBands" >> beam.ParDo(_LookUpBandsFn(cfg.window_days)).with_outputs(SAME_ARTICLE,
                                                                                        main="candidates")
        )
        matches = (
            (seen | "Register" >> beam.Map(lambda s: (s.entry.article_id, ("register", s))).with_output_types(
                STR_KEYED),
             looked_up.candidates | "Candidates" >> beam.Map(lambda kv: kv).with_output_types(STR_KEYED))
            | "RegistrationsAndCandidates" >> beam.Flatten()
            | "VerifyCandidates" >> beam.ParDo(_VerifyCandidatesFn(cfg))
        )
        decided = (
            {"article": live | "ArticleById" >> beam.Map(lambda t: (t[0].article_id, (t[0], t[1].entry))),
             "match": back_into((matches, looked_up[SAME_ARTICLE]) | "AllMatches" >> beam.Flatten(), memory,
                                "Matches")}
            | "MatchesPerArticle" >> beam.CoGroupByKey()
            | "DecideAgainstIndex" >> beam.FlatMap(_decide).with_outputs(DUPLICATES, INDEX, main="articles")
        )
        return {"articles": decided.articles, "duplicates": decided[DUPLICATES], "index": decided[INDEX]}
