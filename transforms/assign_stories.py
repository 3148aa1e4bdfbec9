"""AssignStories: Article -> Article with ``story_id``; Duplicate -> Duplicate with its
canonical's ``story_id``; one StoryRow per story the run added to (``stories/``) and one
StoryState per such story (``state/stories/``, for the next run); the extract stage's
Failure rows, a dropped item's with the story its ``Headline`` joined
(``transforms._stories.HeadlineMatcher``).

The algorithm is ``transforms._stories``: each article, in publication order, joins the
story whose centroid and first article are both close enough, within a time window, else
starts a story named after itself. Stories of earlier runs come from ``OUT/state/stories/``;
an article of this run joins them like any other, so tomorrow's follow-up carries the id
of yesterday's first report.

How it runs (batch): assignment is one ordered pass, so it is one group on one worker, over
profiles only (stemmed word counts, no text) taken from the kept articles *before* entity
tagging, plus the earlier stories that an article of this run could still join (last
article within ``window_hours`` of this run's earliest). Its result, article id -> story id,
reaches the tagged articles and the duplicates as a side input: the articles are not
shuffled again for it and are written where they were keyed. IDF counts this run's articles
and each loaded story's first article.

A stream assigns per window with the story index in keyed state: ``transforms.keyed_stories``.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import timedelta
from typing import Any, Iterable, Iterator, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import Article, Duplicate, Failure, Headline, StoryRow, StoryState
from schemas.timeutil import utc_now_iso
from transforms._stories import (
    DocumentFrequencies,
    HeadlineMatcher,
    Story,
    StoryConfig,
    StoryIndex,
    StoryProfile,
    instant,
    profile,
)
from transforms._timing import timed
from transforms.embed_articles import EmbedArticles, SentenceEmbeddingHandler

__all__ = ["AssignStories", "StoryConfig"]

STAGE = "stories"
_STORY_LABELS = ("PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT")
ASSIGNMENTS, STORIES, HEADLINES = "assignments", "stories", "headlines"
# The drops a story may claim by their headline (the extract stage's reasons).
HEADLINE_DROPS = frozenset({"interstitial", "too_short"})
TOP_KEYS = 10


def profile_of(article: Article, vector: Optional[Any] = None) -> StoryProfile:
    return profile(article.article_id, article.published or article.fetched_at, article.source, article.title,
                   article.text, vector=vector, language=article.language)


class HeadlineProfile(NamedTuple):
    """A dropped item's profile, keyed by its failures/ row's url."""

    url: str
    profile: StoryProfile


def headline_profile_of(headline: Headline, pack: bool = False) -> HeadlineProfile:
    p = profile(headline.url, headline.published, headline.source, headline.title, headline.text,
                language=headline.language)
    return HeadlineProfile(headline.url, _packed(p) if pack else p)


def failure_with_story(row: Failure, story_of_url: dict) -> Failure:
    """A drop that a story claimed by its headline, with that story's id."""
    if row.error not in HEADLINE_DROPS:
        return row
    return row._replace(story_id=story_of_url.get(row.url))


def profiles(kept, handler: Optional[SentenceEmbeddingHandler], profile_fn) -> tuple:
    """Kept articles -> (profiles, embedding failures): with ``handler``, each article is
    embedded first (``transforms.embed_articles``) and its profile carries the vector."""
    if handler is None:
        empty = kept.pipeline | "NoEmbeddingFailures" >> beam.Create([]).with_output_types(Failure)
        return kept | "Profile" >> beam.Map(profile_fn), empty
    embedded = kept | "Embed" >> EmbedArticles(handler)
    return embedded["pairs"] | "Profile" >> beam.MapTuple(profile_fn), embedded["failed"]


def _story_keys(article: Article) -> set[str]:
    return {e.key for e in article.entities or () if e.label in _STORY_LABELS and e.key}


def _joinable(row: StoryState, earliest: Optional[str], window_hours: float) -> bool:
    """An earlier story an article of this run could join (its last article within the window)."""
    if earliest is None:
        return False
    return instant(row.last_published) >= instant(earliest) - timedelta(hours=window_hours)


class ForHeadlines(NamedTuple):
    """An earlier story only this run's headlines could join (no article of the run is
    within its window): offered to them, kept out of the assignment and its IDF, so the
    articles are assigned exactly as without headlines."""

    row: StoryState


def _for_whom(row: StoryState, articles_earliest: Optional[str], window_hours: float):
    return row if _joinable(row, articles_earliest, window_hours) else ForHeadlines(row)


def _earliest(times: Iterable[Optional[str]]) -> Optional[str]:
    """The earliest time (None for none; partial results of empty bundles are None too)."""
    return min((t for t in times if t), key=instant, default=None)


def _recency(row: StoryState) -> tuple:
    return instant(row.updated_at), row.articles


class _AssignFn(beam.DoFn):
    """One group: this run's profiles and the joinable earlier stories -> (article_id,
    story_id) for every member of those stories, and (story_id, Story) for each story this
    run started or added to."""

    def __init__(self, config: StoryConfig):
        self._config = config
        self._stories = Metrics.counter(STAGE, "stories")
        self._continued = Metrics.counter(STAGE, "earlier_stories_continued")
        self._loaded = Metrics.counter(STAGE, "earlier_stories_loaded")
        self._joined = Metrics.counter(STAGE, "articles_joined")
        self._headlines = Metrics.counter(STAGE, "headlines_joined")

    @timed(STAGE)
    def process(self, keyed: tuple[str, Iterable]) -> Iterator:
        profiles, earlier, headlines, for_headlines = [], [], [], []
        df = DocumentFrequencies()
        for element in keyed[1]:
            if isinstance(element, StoryState):
                earlier.append(element)
                df.add(element.leader_terms or element.terms)
            elif isinstance(element, HeadlineProfile):  # not counted in IDF: not an article of the run
                headlines.append((element.url, _unpack(element.profile)))
            elif isinstance(element, ForHeadlines):
                for_headlines.append(Story.from_state(element.row))
            else:  # packed where it was profiled (see packed_profile_of): intern its words here
                packed = element._replace(terms=(tuple(sys.intern(t) for t in element.terms[0]), element.terms[1]))
                df.add(packed.terms[0])
                profiles.append(packed)
        index = StoryIndex(self._config, (Story.from_state(row) for row in earlier))
        index.reindex(df)
        self._loaded.inc(len(earlier))
        before = {row.story_id: len(row.article_ids or ()) for row in earlier}
        del earlier
        profiles.sort(key=lambda p: (instant(p.published), p.article_id))
        matcher = HeadlineMatcher(self._config, df, headlines)
        del headlines
        for story in for_headlines:
            matcher.offer(story)
        for story in index.assign_closing(map(_unpack, _draining(profiles)), df, presorted=True):
            matcher.offer(story)  # a closed story is final: what a headline is scored against
            for member in story.members:  # earlier runs' members too: their copies in this run
                yield member, story.story_id
            known = before.get(story.story_id)
            if known == len(story.members):
                continue  # an earlier story no article of this run joined
            self._joined.inc(len(story.members) - (known or 1))
            (self._continued if known is not None else self._stories).inc()
            yield beam.pvalue.TaggedOutput(STORIES, (story.story_id, story))
        for url, story_id in matcher.matches().items():
            self._headlines.inc()
            yield beam.pvalue.TaggedOutput(HEADLINES, (url, story_id))


def packed_profile_of(article: Article, vector: Optional[Any] = None) -> StoryProfile:
    """The profile as it crosses the shuffle and waits for its turn: its words and counts as
    two tuples, not a dict (about a third of the memory per word; the one group holds a
    run's profiles at once). ``_unpack`` makes the dict back, one profile at a time."""
    return _packed(profile_of(article, vector))


def _packed(p: StoryProfile) -> StoryProfile:
    return p._replace(terms=(tuple(p.terms), tuple(p.terms.values())))


def _unpack(p: StoryProfile) -> StoryProfile:
    return p._replace(terms=dict(zip(*p.terms)))


def _draining(items: list) -> Iterator:
    """Yields ``items`` in order and lets each go (the list is emptied as it is read)."""
    items.reverse()
    while items:
        yield items.pop()


def _with_story(row, story_of: dict):
    return row._replace(story_id=story_of.get(row.article_id))


def _duplicate_with_story(row: Duplicate, story_of: dict) -> Duplicate:
    return row._replace(story_id=story_of.get(row.canonical_article_id))


class _SumCounters(beam.CombineFn):
    def create_accumulator(self) -> Counter:
        return Counter()

    def add_input(self, acc: Counter, keys: Iterable[str]) -> Counter:
        acc.update(keys)
        return acc

    def merge_accumulators(self, accs: Iterable[Counter]) -> Counter:
        out: Counter = Counter()
        for acc in accs:
            out.update(acc)
        return out

    def extract_output(self, acc: Counter) -> Counter:
        return acc


def _finish(keyed: tuple[str, dict], updated_at: str) -> Iterator:
    """A story and its articles' entity keys of this run -> StoryRow, and StoryState (tagged)."""
    _, joined = keyed
    story: Optional[Story] = next(iter(joined["story"]), None)
    if story is None:
        return
    for keys in joined["keys"]:
        story.keys.update(keys)  # kept in the state row too
    yield story.to_row(TOP_KEYS)
    yield beam.pvalue.TaggedOutput("state", story.to_state(updated_at))


class AssignStories(beam.PTransform):
    """{"kept": Article, "articles": Article, "duplicates": Duplicate, "earlier": StoryState,
    "headlines": Headline, "dropped": Failure} -> {"articles", "duplicates", "stories": StoryRow,
    "state": StoryState, "dropped": Failure, "failed": Failure}.

    ``kept`` are the kept articles before entity tagging (profiles are taken from them),
    ``articles`` the same articles tagged (they get the ``story_id``), ``earlier`` the story
    index of earlier runs (``state_stories``), ``headlines`` the dropped items that have a
    headline and ``dropped`` the extract stage's failure rows (a row whose headline joined a
    story gets its ``story_id``; both optional).

    Args:
        config: the grouping's settings (``transforms._stories.StoryConfig``).
        updated_at: when this run touched its stories (for the state's retention).
        embeddings: a sentence-embedding handler (``--story_embeddings``), or None for
            words alone; its failed batches are the ``failed`` warnings.
    """

    def __init__(self, config: Optional[StoryConfig] = None, updated_at: Optional[str] = None,
                 embeddings: Optional[SentenceEmbeddingHandler] = None):
        super().__init__()
        self._config = config or StoryConfig()
        self._updated_at = updated_at
        self._embeddings = embeddings

    def expand(self, inputs: dict):
        kept, articles = inputs["kept"], inputs["articles"]
        duplicates, earlier = inputs["duplicates"], inputs["earlier"]
        config = self._config
        profiled, failed = profiles(kept, self._embeddings, packed_profile_of)
        headlines = inputs.get("headlines")
        if headlines is None:
            headlines = kept.pipeline | "NoHeadlines" >> beam.Create([]).with_output_types(Headline)
        headline_profiles = headlines | "ProfileHeadlines" >> beam.Map(headline_profile_of, True)
        # Earlier stories are loaded for the run's articles and its headlines; the ones only a
        # headline could join go to the headlines alone (ForHeadlines): a headline changes no
        # story, not even through the IDF of a story loaded for it.
        earliest = (profiled
                    | "PublishedAt" >> beam.Map(lambda p: p.published)
                    | "Earliest" >> beam.CombineGlobally(_earliest))
        earliest_of_all = (
            (earliest, headlines | "HeadlineAt" >> beam.Map(lambda h: h.published))
            | "Times" >> beam.Flatten()
            | "EarliestOfAll" >> beam.CombineGlobally(_earliest))
        joinable = (
            earlier
            | "Joinable" >> beam.Filter(
                lambda row, first: _joinable(row, first, config.window_hours),
                beam.pvalue.AsSingleton(earliest_of_all))
            | "ByStory" >> beam.WithKeys(lambda row: row.story_id)
            | "LatestRow" >> beam.CombinePerKey(lambda rows: max(rows, key=_recency))  # a later run's row wins
            | "Rows" >> beam.Values()
            | "ForWhom" >> beam.Map(_for_whom, beam.pvalue.AsSingleton(earliest), config.window_hours)
        )
        assigned = (
            (profiled, joinable, headline_profiles)
            | "ProfilesAndEarlier" >> beam.Flatten()
            | "OneGroup" >> beam.WithKeys(lambda _: "")
            | "GroupAll" >> beam.GroupByKey()
            | "Assign" >> beam.ParDo(_AssignFn(config)).with_outputs(STORIES, HEADLINES, main=ASSIGNMENTS)
        )
        story_of = beam.pvalue.AsDict(assigned[ASSIGNMENTS])
        with_story = articles | "ArticleStory" >> beam.Map(_with_story, story_of).with_output_types(Article)
        duplicates_with_story = duplicates | "DuplicateStory" >> beam.Map(
            _duplicate_with_story, story_of).with_output_types(Duplicate)
        keys = (
            with_story
            | "StoryKeys" >> beam.Map(lambda a: (a.story_id, _story_keys(a)))
            | "SumKeys" >> beam.CombinePerKey(_SumCounters())
        )
        finished = (
            {"story": assigned[STORIES], "keys": keys}
            | "JoinKeys" >> beam.CoGroupByKey()
            | "Finish" >> beam.FlatMap(_finish, self._updated_at or utc_now_iso()).with_outputs("state", main="rows")
        )
        dropped = inputs.get("dropped")
        if dropped is not None:
            dropped = dropped | "DroppedStory" >> beam.Map(
                failure_with_story, beam.pvalue.AsDict(assigned[HEADLINES])).with_output_types(Failure)
        else:
            dropped = kept.pipeline | "NoDropped" >> beam.Create([]).with_output_types(Failure)
        return {"dropped": dropped, "articles": with_story, "duplicates": duplicates_with_story,
                "stories": finished.rows | "TypeStories" >> beam.Map(lambda s: s).with_output_types(StoryRow),
                "state": finished.state | "TypeState" >> beam.Map(lambda s: s).with_output_types(StoryState),
                "failed": failed}
