"""Story grouping, the algorithm (used by transforms.assign_stories).

Which kept articles report the same event? Every article gets a ``story_id``: the id of
the earliest article of its story, so a story's id never changes as it grows.

Profile of an article (``profile``): the words of its title and text (the title once:
``titled_text``), casefolded, stemmed with the Snowball English stemmer, number words
written as digits ("two" -> "2"), with their counts, less the stop words of its language
(``stop_words``; of English only the first- and second-person pronouns); its publication
time and outlet.
``benchmarks/story_signal.py`` measured the signals: stemmed word TF-IDF separated
same-story from different-story pairs best (entity keys did not add).

A story (``Story``) keeps its first article's id and words, first and last publication
time, article count, outlets and the summed word counts of its articles (its centroid, cut
to the ``centroid_terms`` most frequent words so a long story stays small).

Assignment (``StoryIndex.assign``), one article at a time, earliest first:

- candidates come from an inverted index, never from all stories: each story is indexed
  under its ``index_terms`` most distinctive words (highest IDF), each word's list keeps
  its ``max_postings`` most recently active stories, and an article looks up its own
  ``index_terms`` most distinctive words; a story whose last article is more than
  ``window_hours`` before the article is not a candidate. So the work per article is
  bounded whatever the number of stories.
- score: cosine of the IDF-weighted word vectors, the lower of article against the story's
  centroid and article against the story's first article. With sentence embeddings
  (``--story_embeddings``: ``transforms.embed_articles``) on the article and the story, each
  of the two is ``vector_weight`` times the embedding cosine (against the sum of the
  members' embeddings, and against the first article's) plus the rest times the word
  cosine, and the threshold is ``vector_threshold``; a story of an earlier run that has no
  embeddings is scored by words alone. Among candidates the largest margin over its
  threshold wins.
- the article joins the best-scoring candidate at or above ``threshold``, else it starts a
  story of its own. Comparing with the centroid and the first article, never with the
  nearest member, is the guard against chaining: an article that resembles only a story's
  latest article starts its own story. The first article is there because a centroid alone
  drifts: on 4,000 articles mixed from shared sentences, stories grew to 49 articles, half
  of which shared no sentence with the story's first (benchmarks/story_signal.py).

IDF comes from ``DocumentFrequencies``: the number of profiles seen and each word's count of
profiles; the caller decides what it covers (a run's articles plus what earlier runs saw).

Items dropped before grouping (walls, too short texts) that have a headline are offered the
stories afterwards (``HeadlineMatcher``): each joins the story it scores best against, by
the same rule, without starting or changing one.

Across runs a story is carried as a ``StoryState`` row (``to_state`` / ``from_state``): its
centroid, its first article's words, its counts and member ids, so a later run continues it
exactly where this one left it.
"""

from __future__ import annotations

import heapq
import math
import threading
from bisect import bisect_left, bisect_right
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import import_module
from operator import itemgetter, mul
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Optional, Sequence

import numpy as np
import regex

from schemas.elements import StoryRow, StoryState
from schemas.timeutil import EARLIEST, parse_iso

__all__ = ["StoryProfile", "Story", "StoryIndex", "StoryConfig", "DocumentFrequencies", "profile", "stems",
           "stop_words", "titled_text",
           "clear_caches", "instant", "Weighted", "background_share", "warm_up", "HeadlineMatcher"]

# A word: letters, digits and the marks that belong to them. Python's ``\w`` leaves out the
# combining marks (Unicode Mn/Mc) that Indic scripts write vowels and viramas with, so it
# cut Hindi "दिल्ली" into "द", "ल", "ल": fragments every Hindi text shares, which IDF in a
# mostly English run took for distinctive words (two unrelated Hindi pages scored 0.67), and
# which no stop-word list matches. English text splits exactly as with ``\w+``.
_WORD = regex.compile(r"[\w\p{M}]+")
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}


_LOCAL = threading.local()


def _stemmer():
    # One per thread: a Snowball stemmer keeps the word it works on in the instance, so two
    # threads of one worker (Beam runs bundles in several) sharing one garble each other's
    # words (seen: IndexError in a stream's worker).
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _LOCAL.stemmer = snowballstemmer.stemmer("english")
    return stemmer


@lru_cache(maxsize=1 << 18)
def _stem(word: str) -> str:
    # Words are Zipfian, so a cache of distinct words takes stemming down to a dictionary
    # lookup for nearly all of them (snowballstemmer runs PyStemmer's C code when installed,
    # a REQUIRES of setup.py; in pure Python it was most of a profile's cost).
    return _stemmer().stemWord(_NUMBER_WORDS.get(word, word))


@lru_cache(maxsize=1 << 16)
def instant(iso: Optional[str]) -> datetime:
    """An ISO 8601 time as an aware UTC datetime (unparseable: 1990, so it sorts first).

    Times are compared as instants, never as strings: "+03:30" and "Z" times, or a
    publication date and a fetch time, do not sort as text.
    """
    return parse_iso(iso) or EARLIEST


def clear_caches() -> None:
    """Forgets the stems and parsed times (a benchmark's cold start)."""
    _stem.cache_clear()
    instant.cache_clear()


# English words left out of an English profile: the first- and second-person pronouns.
# They tell a piece's voice (a column, a reader's letter, an interview), not its event; news
# reports are written in the third person, so in a run of news IDF takes them for
# distinctive words, and two unrelated first-person columns shared a story by "my", "I"
# and "me" (on the stories file, 0.107 of a 0.192 cosine between a PTSD memoir and a column
# about a housekeeper). Third-person pronouns are common in reports and weigh little already.
ENGLISH_VOICE = frozenset("i me my mine myself we us our ours ourselves you your yours yourself yourselves".split())


@lru_cache(maxsize=64)
def stop_words(language: Optional[str]) -> frozenset:
    """The function words left out of a profile in ``language`` (a tag such as ``pt-BR``):
    spaCy's stop-word list of the language (casefolded); for English only the first- and
    second-person pronouns (``ENGLISH_VOICE``); none for an unknown language.

    Why: a language that has only a few articles in a run has its function words in those
    articles alone, so IDF took them for distinctive words. On the extraction benchmark's
    179 pages (``benchmarks/story_languages.py``), 14 of its 18 pages declared in another
    language than English shared a story, by them: four unrelated Portuguese pages in one,
    four Russian in another. With these lists, 4 do (two Portuguese video pages, a table of
    NASCAR standings with one of basketball scores, and an English page declared German in
    an English story it belongs to), and its English stories stay as they were.

    Why not all of English's: its function words weigh little by IDF already (a run is
    mostly English, and the IDF's background is English word frequencies). Leaving spaCy's
    whole list out grouped the stories file worse: more different pairs merged in 3 of its
    5 orders, none fewer. Its first- and second-person pronouns are the exception: they are
    rare in news reports, so they weigh like a minority language's function words
    (``ENGLISH_VOICE``; ``benchmarks/story_languages.py`` measures the variants).
    """
    primary = (language or "").replace("_", "-").split("-", 1)[0].casefold()
    if primary == "en":
        return ENGLISH_VOICE
    if not primary or not primary.isalpha():
        return frozenset()
    try:
        words = import_module(f"spacy.lang.{primary}.stop_words").STOP_WORDS
    except ImportError:  # a language spaCy has no list for
        return frozenset()
    return frozenset(w.casefold() for w in words)


def stems(text: str, language: Optional[str] = None) -> Counter:
    """Stemmed words of ``text`` with their counts, without the stop words of ``language``
    (``stop_words``: none for English)."""
    skip = stop_words(language)
    out: Counter = Counter()
    for word, count in Counter(_WORD.findall(text.casefold())).items():
        if word not in skip:
            out[_stem(word)] += count
    return out


class StoryProfile(NamedTuple):
    """What story grouping needs of an article (no text)."""

    article_id: str
    published: str  # ISO 8601 with offset; the order of assignment
    source: Optional[str]
    title: Optional[str]
    terms: Mapping[str, int]
    entity_keys: Sequence[str] = ()  # shown per story (top keys), not used to decide
    vector: Optional[Any] = None  # unit sentence embedding (numpy), with --story_embeddings


def titled_text(title: Optional[str], text: str) -> str:
    """The title and the text, the title once: an extractor often keeps the page's headline
    as the text's first line (every demo page; 21 of the extraction benchmark's 180 pages),
    and counted twice it would outweigh the rest of the text for no reason of its own."""
    words = (title or "").split()
    if not words or [w.casefold() for w in text.split(maxsplit=len(words))[:len(words)]] == [
            w.casefold() for w in words]:
        return text
    return f"{title}\n{text}"


def profile(article_id: str, published: str, source: Optional[str], title: Optional[str],
            text: str, entity_keys: Sequence[str] = (), vector: Optional[Any] = None,
            language: Optional[str] = None) -> StoryProfile:
    return StoryProfile(article_id, published, source, title, dict(stems(titled_text(title, text), language)),
                        tuple(entity_keys), vector)


class StoryConfig(NamedTuple):
    """Settings of story grouping (see the module docstring)."""

    threshold: float = 0.17
    window_hours: float = 72.0
    index_terms: int = 20
    max_postings: int = 50
    max_candidates: int = 10
    centroid_terms: int = 400
    # With sentence embeddings on both sides: the score is vector_weight * embedding cosine
    # + (1 - vector_weight) * word cosine, against vector_threshold (benchmarks/story_signal.py).
    vector_weight: float = 0.5
    vector_threshold: float = 0.38


# The background of a small run's IDF: English word frequencies (wordfreq's "best" list,
# its BACKGROUND_WORDS most frequent words, stemmed as profiles are), turned into the share
# of news articles of ARTICLE_TOKENS words that contain each stem: 1 - exp(-L * f).
BACKGROUND_WORDS = 60_000
ARTICLE_TOKENS = 500


@lru_cache(maxsize=1)
def _background_frequencies() -> dict[str, float]:
    from wordfreq import get_frequency_dict

    ranked = sorted(get_frequency_dict("en", wordlist="best").items(), key=lambda kv: -kv[1])
    by_stem: dict[str, float] = {}
    for word, frequency in ranked[:BACKGROUND_WORDS]:
        if _WORD.fullmatch(word):
            stem = _stem(word)
            by_stem[stem] = by_stem.get(stem, 0.0) + frequency
    return by_stem


def warm_up() -> None:
    """Builds the background word table now (a second or more: 60,000 words stemmed) rather
    than inside the first small window's assignment."""
    _background_frequencies()


def background_share(term: str) -> float:
    """The share of English news articles that contain the stem ``term`` (an estimate)."""
    return -math.expm1(-ARTICLE_TOKENS * _background_frequencies().get(term, 0.0))


@dataclass
class DocumentFrequencies:
    """How many profiles were counted, and in how many each word occurs.

    Below ``background`` documents, IDF also counts ``background - documents`` pseudo
    documents of general English (``background_share``): with two articles counted, every
    word they share would otherwise weigh log(2/2) = 0 and no two reports of one event could
    ever match (a small run, a stream's first polls). From ``background`` documents on, IDF
    is the plain log(N / df) of the documents counted.
    """

    documents: int = 0
    counts: Counter = field(default_factory=Counter)
    background: int = 100
    _idf: dict = field(default_factory=dict, repr=False, compare=False)  # until the next add

    def add(self, terms: Iterable[str]) -> None:
        self.documents += 1
        self.counts.update(set(terms))
        self._idf.clear()

    def __getstate__(self) -> dict:  # the cache is not worth storing
        return {"documents": self.documents, "counts": self.counts, "background": self.background, "_idf": {}}

    def idf(self, term: str) -> float:
        """log(N / df), a word never counted taken as seen once (N and df with the
        background's pseudo documents below ``background`` documents)."""
        value = self._idf.get(term)
        if value is None:
            pseudo = max(0, self.background - self.documents)
            df = self.counts.get(term, 0) + (pseudo * background_share(term) if pseudo else 0.0)
            value = self._idf[term] = math.log(max(self.documents + pseudo, 1) / max(df, 1.0))
        return value


@dataclass
class Story:
    story_id: str
    first_published: str
    last_published: str
    articles: int
    outlets: Counter
    title: Optional[str]
    terms: Counter
    leader: Mapping[str, int] = field(default_factory=dict)  # the first article's words
    keys: Counter = field(default_factory=Counter)  # entity keys, by articles naming them
    members: list = field(default_factory=list)  # article ids, in order of joining
    vector: Optional[Any] = None  # sum of the members' unit embeddings (numpy float64)
    leader_vector: Optional[Any] = None  # the first article's embedding

    @property
    def embedded(self) -> bool:
        return self.vector is not None and self.leader_vector is not None

    def add(self, p: StoryProfile, centroid_terms: int) -> None:
        self.articles += 1
        self.members.append(p.article_id)
        self.last_published = max(self.last_published, p.published, key=instant)
        self.first_published = min(self.first_published, p.published, key=instant)
        if p.source:
            self.outlets[p.source] += 1
        self.terms.update(p.terms)
        self.keys.update(set(p.entity_keys))
        # Vectors only for a story that had them from its first article: a story of a run
        # without embeddings stays scored by words (a partial sum would be no centroid).
        if p.vector is not None and (self.articles == 1 or self.vector is not None):
            v = np.asarray(p.vector, dtype=np.float64)
            self.vector = v.copy() if self.vector is None else self.vector + v
            if self.leader_vector is None and self.articles == 1:
                self.leader_vector = v
        if len(self.terms) > centroid_terms:
            self.terms = Counter(dict(self.terms.most_common(centroid_terms)))

    def to_row(self, top_keys: int, more_keys: Iterable[Mapping[str, int]] = ()) -> StoryRow:
        """The story's row of ``stories/``: outlets by articles, its ``top_keys`` entity keys
        (counting ``more_keys`` too, without changing the story)."""
        keys = Counter(self.keys)
        for more in more_keys:
            keys.update(more)
        return StoryRow(self.story_id, self.first_published, self.last_published, self.articles,
                        [name for name, _ in self.outlets.most_common()], self.title,
                        [key for key, _ in keys.most_common(top_keys)])

    def to_state(self, updated_at: str) -> StoryState:
        outlets, keys = self.outlets.most_common(), self.keys.most_common()
        return StoryState(
            self.story_id, self.first_published, self.last_published, self.articles, list(self.members),
            [o for o, _ in outlets], [n for _, n in outlets], self.title,
            list(self.terms), list(self.terms.values()), list(self.leader), list(self.leader.values()),
            [k for k, _ in keys], [n for _, n in keys], updated_at,
            _floats(self.vector), _floats(self.leader_vector))

    @classmethod
    def from_state(cls, row: StoryState) -> "Story":
        return cls(row.story_id, row.first_published, row.last_published, row.articles,
                   Counter(dict(zip(row.outlets or (), row.outlet_articles or ()))), row.title,
                   Counter(dict(zip(row.terms or (), row.term_counts or ()))),
                   dict(zip(row.leader_terms or (), row.leader_counts or ())),
                   Counter(dict(zip(row.keys or (), row.key_articles or ()))), list(row.article_ids or ()),
                _array(row.vector), _array(row.leader_vector))


def _floats(vector: Optional[Any]) -> Optional[list]:
    return None if vector is None else [float(x) for x in vector]


def _array(values: Optional[Sequence[float]]) -> Optional[Any]:
    return None if values is None else np.asarray(values, dtype=np.float64)


def vector_cosine(a: Any, b: Any) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(np.dot(a, b)) / (na * nb) if na and nb else 0.0


def _vector(terms: Mapping[str, int], df: DocumentFrequencies) -> dict[str, float]:
    return {t: c * df.idf(t) for t, c in terms.items()}


class Weighted(NamedTuple):
    """A weighted word vector with its norm (cosine without recomputing the norm)."""

    vector: dict[str, float]
    norm: float

    @classmethod
    def of(cls, terms: Mapping[str, int], df: DocumentFrequencies) -> "Weighted":
        return cls.from_vector(_vector(terms, df))

    @classmethod
    def from_vector(cls, vector: dict[str, float]) -> "Weighted":
        return cls(vector, math.sqrt(sum(x * x for x in vector.values())))

    def cosine(self, other: "Weighted") -> float:
        if not self.norm or not other.norm:
            return 0.0
        a, b = self.vector, other.vector
        # Only the shared words count. Every step runs in C (the intersection over the
        # smaller dict, the lookups, the products, the sum): scoring candidates is what grows
        # with a run's density of stories, so this is the loop that sets the cost per article.
        shared = a.keys() & b.keys()
        if len(shared) < 2:
            return sum(a[k] * b[k] for k in shared) / (self.norm * other.norm)
        pick = itemgetter(*shared)
        return sum(map(mul, pick(a), pick(b))) / (self.norm * other.norm)


def distinctive(terms: Mapping[str, int], df: DocumentFrequencies, n: int) -> list[str]:
    """The ``n`` most distinctive words of ``terms``: by IDF times 1 + log of the count."""
    return sorted(terms, key=lambda t: (-df.idf(t) * (1 + math.log(terms[t])), t))[:n]


class StoryIndex:
    """Stories and their inverted index; ``assign`` puts articles into stories."""

    def __init__(self, config: Optional[StoryConfig] = None, stories: Iterable[Story] = ()):
        self.config = config or StoryConfig()
        self.stories: dict[str, Story] = {}
        self._postings: dict[str, OrderedDict[str, None]] = {}
        self._weighted: dict[str, Weighted] = {}  # a story's weighted centroid, until it changes
        self._leaders: dict[str, Weighted] = {}  # a story's first article, weighted
        self.compared = 0  # candidate scores computed, for the cost per article
        for story in stories:
            self.stories[story.story_id] = story

    def _distinctive(self, terms: Mapping[str, int], df: DocumentFrequencies) -> list[str]:
        return distinctive(terms, df, self.config.index_terms)

    def _index(self, story: Story, df: DocumentFrequencies, distinctive: Optional[list[str]] = None) -> None:
        for term in distinctive if distinctive is not None else self._distinctive(story.terms, df):
            posting = self._postings.setdefault(term, OrderedDict())
            posting[story.story_id] = None
            posting.move_to_end(story.story_id)
            while len(posting) > self.config.max_postings:
                posting.popitem(last=False)  # the least recently active story

    def reindex(self, df: DocumentFrequencies) -> None:
        """Indexes every story (after loading them, or when the IDF changed)."""
        self._postings.clear()
        self._weighted.clear()
        self._leaders.clear()
        for story in sorted(self.stories.values(), key=lambda s: (instant(s.last_published), s.story_id)):
            self._index(story, df)

    def candidates(self, p: StoryProfile, df: DocumentFrequencies,
                   distinctive: Optional[list[str]] = None) -> list[Story]:
        shared: Counter = Counter()
        for term in distinctive if distinctive is not None else self._distinctive(p.terms, df):
            shared.update(self._postings.get(term, {}).keys())
        out = []
        at, window = instant(p.published), timedelta(hours=self.config.window_hours)
        for story_id, _ in shared.most_common():
            story = self.stories.get(story_id)
            if story is None:  # closed (see assign_closing); its postings are dropped lazily
                continue
            if abs(instant(story.last_published) - at) <= window:
                out.append(story)
                if len(out) == self.config.max_candidates:
                    break
        return out

    def assign(self, p: StoryProfile, df: DocumentFrequencies) -> tuple[str, float]:
        """(story id, score): the story ``p`` joins, or its own new story (score 0)."""
        weighted = Weighted.of(p.terms, df)
        distinctive = self._distinctive(p.terms, df)
        best, best_margin, best_score = None, 0.0, 0.0
        for story in self.candidates(p, df, distinctive):
            self.compared += 1
            if story.story_id not in self._leaders:
                self._leaders[story.story_id] = Weighted.of(story.leader or story.terms, df)
            threshold = self.config.threshold
            mixed = p.vector is not None and story.embedded
            if mixed:
                w = self.config.vector_weight
                threshold = self.config.vector_threshold
            leader = weighted.cosine(self._leaders[story.story_id])
            if mixed:
                leader = w * vector_cosine(p.vector, story.leader_vector) + (1 - w) * leader
            # The score is the lower of the two, so a leader score that cannot win (below
            # the threshold, or below the best margin so far) settles the candidate without
            # its centroid: most candidates are unrelated stories that end here.
            if leader - threshold < 0 or (best is not None and leader - threshold < best_margin):
                continue
            if story.story_id not in self._weighted:
                self._weighted[story.story_id] = Weighted.of(story.terms, df)
            centroid = weighted.cosine(self._weighted[story.story_id])
            if mixed:
                centroid = w * vector_cosine(p.vector, story.vector) + (1 - w) * centroid
            # Judged by the margin over the threshold that applies: a story of an earlier run
            # without embeddings is scored by words alone, against the word threshold.
            score = min(centroid, leader)
            margin = score - threshold
            if best is None or margin > best_margin or (margin == best_margin and story.story_id < best.story_id):
                best, best_margin, best_score = story, margin, score
        if best is None or best_margin < 0:
            best = Story(p.article_id, p.published, p.published, 0, Counter(), p.title, Counter(), dict(p.terms))
            self.stories[best.story_id] = best
            best.add(p, self.config.centroid_terms)
            # A new story's first article is the article itself, and so is its centroid
            # unless the article has more than centroid_terms words (the IDF has not
            # changed): the article's weighted words and index terms serve the story.
            self._leaders[best.story_id] = weighted
            whole = len(best.terms) == len(p.terms)
            if whole:
                self._weighted[best.story_id] = weighted
            self._index(best, df, distinctive if whole else None)
            return best.story_id, 0.0
        best.add(p, self.config.centroid_terms)
        self._weighted.pop(best.story_id, None)
        self._index(best, df)
        return best.story_id, best_score

    def _close(self, story_id: str, df: DocumentFrequencies) -> Story:
        story = self.stories.pop(story_id)
        self._weighted.pop(story_id, None)
        self._leaders.pop(story_id, None)
        for term in self._distinctive(story.terms, df):
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(story_id, None)
                if not posting:
                    del self._postings[term]
        return story

    def assign_closing(self, profiles: Iterable[StoryProfile], df: DocumentFrequencies,
                       presorted: bool = False) -> Iterator[Story]:
        """Assigns ``profiles`` (in publication order, as ``assign_all``) and yields every
        story of the index once: as soon as no later article can join it (its last article
        is more than ``window_hours`` before the article at hand), and the rest at the end.
        A yielded story leaves the index, so what is held is the stories of one window, not
        of the whole run. ``presorted``: the profiles already come in that order (and are
        then read one at a time, never all at once)."""
        closing: list[tuple[datetime, str]] = [(instant(s.last_published), s.story_id) for s in self.stories.values()]
        heapq.heapify(closing)
        window = timedelta(hours=self.config.window_hours)
        ordered = profiles if presorted else sorted(profiles, key=lambda p: (instant(p.published), p.article_id))
        for p in ordered:
            cutoff = instant(p.published) - window
            while closing and closing[0][0] < cutoff:
                last, story_id = heapq.heappop(closing)
                story = self.stories.get(story_id)
                if story is not None and instant(story.last_published) == last:  # else: stale entry
                    yield self._close(story_id, df)
            story_id, _ = self.assign(p, df)
            heapq.heappush(closing, (instant(self.stories[story_id].last_published), story_id))
        for story_id in sorted(self.stories):
            yield self._close(story_id, df)

    def assign_all(self, profiles: Iterable[StoryProfile], df: DocumentFrequencies) -> dict[str, str]:
        """article id -> story id, assigning in publication order (then article id)."""
        return {p.article_id: self.assign(p, df)[0]
                for p in sorted(profiles, key=lambda p: (instant(p.published), p.article_id))}


class HeadlineMatcher:
    """Items dropped before grouping (walls, too short texts: ``schemas.elements.Headline``)
    join stories of kept articles by their profile (headline, and a short text's words).

    Each headline is offered every story that closes (``offer``) and, at the end
    (``matches``), joins the one it scored best against: the lower of its word cosine with
    the story's centroid and with its first article, at ``threshold`` or more (words alone:
    a headline has no embedding), the story's span within ``window_hours`` of the
    headline's time. A headline never starts a story and never changes one, so a story's
    articles, centroid and id are what they would be without it. Candidates come from an
    index of the headlines' words looked up by each story's ``index_terms`` most
    distinctive words, at most ``max_postings`` per word (the nearest in time): the work per
    story is bounded, as for articles.

    Why the article threshold: on the stories file, each article's headline alone, offered
    the stories of the other articles, joined a same-story partner's story for 54 of 72 and
    a different-story partner's for 1 of 138 (whole articles: 64 of 72, 5 of 138;
    ``benchmarks/story_headlines.py``; ``benchmarks/story_pipeline.py`` measures what it
    does through the pipeline).
    """

    def __init__(self, config: StoryConfig, df: DocumentFrequencies, headlines: Iterable[tuple[str, StoryProfile]]):
        self.config = config
        self._df = df
        self._items: list[tuple[str, StoryProfile, Weighted, datetime]] = []
        self._postings: dict[str, list[int]] = {}
        self._times: dict[str, list[datetime]] = {}  # each posting's times, for bisecting
        ordered = sorted(headlines, key=lambda kp: (instant(kp[1].published), kp[0]))
        for n, (key, p) in enumerate(ordered):
            at = instant(p.published)
            self._items.append((key, p, Weighted.of(p.terms, df), at))
            for term in p.terms:
                self._postings.setdefault(term, []).append(n)  # in time order
                self._times.setdefault(term, []).append(at)
        self._best: dict[int, tuple[float, str]] = {}
        self.compared = 0

    def __len__(self) -> int:
        return len(self._items)

    def _near(self, term: str, first: datetime, last: datetime) -> list[int]:
        posting = self._postings.get(term)
        if not posting:
            return []
        window = timedelta(hours=self.config.window_hours)
        times = self._times[term]
        lo, hi = bisect_left(times, first - window), bisect_right(times, last + window)
        if hi - lo <= self.config.max_postings:
            return posting[lo:hi]
        middle = first + (last - first) / 2  # the nearest in time to the story's span
        return sorted(posting[lo:hi], key=lambda n: abs(self._items[n][3] - middle))[:self.config.max_postings]

    def offer(self, story: Story) -> None:
        """Scores the headlines that share a distinctive word with ``story`` against it."""
        if not self._items:
            return
        df = self._df
        first, last = instant(story.first_published), instant(story.last_published)
        candidates: set[int] = set()
        for term in distinctive(story.terms, df, self.config.index_terms):
            candidates.update(self._near(term, first, last))
        if not candidates:
            return
        centroid = Weighted.of(story.terms, df)
        leader = Weighted.of(story.leader or story.terms, df)
        for n in candidates:
            self.compared += 1
            weighted = self._items[n][2]
            score = min(weighted.cosine(centroid), weighted.cosine(leader))
            if score < self.config.threshold:
                continue
            best = self._best.get(n)
            if best is None or score > best[0] or (score == best[0] and story.story_id < best[1]):
                self._best[n] = (score, story.story_id)

    def matches(self) -> dict[str, str]:
        """headline key -> the story it joined (headlines that joined none are left out)."""
        return {self._items[n][0]: story_id for n, (_, story_id) in sorted(self._best.items())}
