"""AssignStoriesKeyed: story grouping in a stream, with the story index in keyed state.

The same inputs and outputs as ``transforms.assign_stories.AssignStories`` (whose module
docstring describes the algorithm), per window of the stream:

1. ``GroupWindow``: the window's profiles (taken from the kept articles before entity
   tagging) as one group, stamped with the window's number and end;
2. ``AssignInOrder`` (one key, global window): a stateful step holding the live stories
   (``StoryState`` rows: the stories whose last article is within ``window_hours`` of the
   newest article seen). It is seeded from ``OUT/state/stories`` (the rows enter as one
   element; a window that arrives before them waits in a bag), assigns each window's
   articles in publication order on top of the live stories, and emits, stamped at the
   window's end: (article id, story id) for every member of a story the window touched
   and for the canonical articles of the window's copies, the window's StoryRows and
   StoryStates;
3. ``JoinStory``: per window, the mapping meets the tagged articles and the duplicates by
   key (no side input: Beam's Flink runner cannot checkpoint a Python stage with one, and
   Prism loses state of a stateful step that has one; see ``transforms._joins``).

Windows are assigned in the order the runner delivers their groups (by window number
when several wait for the seed); within a window, in publication order. A window's copies
send their canonical ids along with the profiles, so a copy of an article of an earlier
window gets that article's story while the story is live (after that, null).

IDF counts every article the stream has assigned, plus each seeded story's first article
(the document frequencies live in the same keyed state; they grow with the vocabulary, not
with the number of articles).
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Optional, Sequence

import apache_beam as beam
from apache_beam.coders import PickleCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec
from apache_beam.transforms.window import TimestampedValue

from schemas.elements import Article, Duplicate, Failure, StoryRow, StoryState
from schemas.timeutil import micros_to_iso
from transforms._keyed import STR_KEYED, KeyedMemory, back_into, into_global
from transforms._stories import (
    DocumentFrequencies,
    HeadlineMatcher,
    Story,
    StoryConfig,
    StoryIndex,
    StoryProfile,
    instant,
    warm_up,
)
from transforms._timing import timed
from transforms.assign_stories import (
    HEADLINES,
    STAGE,
    TOP_KEYS,
    HeadlineProfile,
    _story_keys,
    failure_with_story,
    headline_profile_of,
    profile_of,
    profiles,
)
from transforms.embed_articles import SentenceEmbeddingHandler

__all__ = ["AssignStoriesKeyed"]

_KEY = ""
MAPPING, ROWS, STATE = "mapping", "rows", "state"


class _WindowGroup(NamedTuple):
    window_no: int
    end_micros: int
    profiles: list  # StoryProfile of the window's kept articles
    canonicals: list  # ids of the articles the window's copies point to
    headlines: Sequence = ()  # HeadlineProfile of the window's dropped items that have a headline


class _AssignInOrderFn(beam.DoFn):
    """("", ("seed", [StoryState]) | ("window", _WindowGroup)) -> (article id, story id)
    and, tagged, StoryRow and StoryState, stamped at the window's end."""

    STORIES = ReadModifyWriteStateSpec("stories", PickleCoder())  # story id -> StoryState (live)
    FREQUENCIES = ReadModifyWriteStateSpec("frequencies", PickleCoder())  # every article seen
    SEEDED = ReadModifyWriteStateSpec("seeded", PickleCoder())
    WAITING = BagStateSpec("waiting", PickleCoder())

    def __init__(self, config: StoryConfig, updated_at_of_window):
        self._config = config
        self._updated_at = updated_at_of_window
        self._stories = Metrics.counter(STAGE, "stories")
        self._continued = Metrics.counter(STAGE, "earlier_stories_continued")
        self._joined = Metrics.counter(STAGE, "articles_joined")
        self._headlines = Metrics.counter(STAGE, "headlines_joined")

    def setup(self) -> None:
        # A stream's first windows are small, so their IDF uses the background table (seconds
        # to build): built when the worker sets this step up, not inside a window's bundle.
        # On Prism a bundle on this one key that took seconds was seen overlapping the next
        # window's bundle (a second DoFn instance read the key's state before the first
        # bundle committed it; the later commit won and a window's stories were lost), so
        # `newsbeam stream` also builds the table before the pipeline starts (Prism's
        # loopback workers share its process).
        warm_up()

    @timed(STAGE)
    def process(self, keyed, stories=beam.DoFn.StateParam(STORIES), seeded=beam.DoFn.StateParam(SEEDED),
                frequencies=beam.DoFn.StateParam(FREQUENCIES), waiting=beam.DoFn.StateParam(WAITING)) -> Iterator:
        _, (kind, value) = keyed
        if kind == "seed":
            live = {}
            for row in value:  # a story's latest row wins
                kept = live.get(row.story_id)
                if kept is None or (instant(row.updated_at), row.articles) > (instant(kept.updated_at), kept.articles):
                    live[row.story_id] = row
            df = DocumentFrequencies()
            for row in live.values():  # each earlier story's first article, as a batch run counts them
                df.add(row.leader_terms or row.terms)
            stories.write(live)
            frequencies.write(df)
            seeded.write(True)
            pending = sorted(waiting.read(), key=lambda g: g.window_no)
            waiting.clear()
            for group in pending:
                yield from self._assign(group, stories, frequencies)
            return
        if not seeded.read():
            waiting.add(value)
            return
        yield from self._assign(value, stories, frequencies)

    def _assign(self, group: _WindowGroup, stories, frequencies) -> Iterator:
        live: dict = stories.read() or {}
        df: DocumentFrequencies = frequencies.read() or DocumentFrequencies()
        for p in group.profiles:  # IDF counts every article the stream has seen (and the seed)
            df.add(p.terms)
        frequencies.write(df)
        index = StoryIndex(self._config, (Story.from_state(row) for row in live.values()))
        index.reindex(df)
        before = {story_id: len(row.article_ids or ()) for story_id, row in live.items()}
        assigned = index.assign_all(group.profiles, df)
        touched = set(assigned.values())
        updated_at = self._updated_at(group.end_micros)
        newest = max((instant(p.published) for p in group.profiles), default=None)
        kept = {}
        for story_id, story in index.stories.items():
            state = story.to_state(updated_at) if story_id in touched else live[story_id]
            if newest is None or (newest - instant(story.last_published)).total_seconds() <= \
                    self._config.window_hours * 3600:
                kept[story_id] = state
            if story_id not in touched:
                continue
            known = before.get(story_id)
            self._joined.inc(len(story.members) - (known or 1))
            (self._continued if known is not None else self._stories).inc()
            for member in story.members:
                yield _at(group, (member, story_id))
            yield beam.pvalue.TaggedOutput(ROWS, _at(group, (story_id, story)))
            yield beam.pvalue.TaggedOutput(STATE, _at(group, state))
        stories.write(kept)
        # The window's dropped items that have a headline: the live stories may claim them.
        matcher = HeadlineMatcher(self._config, df, ((h.url, h.profile) for h in group.headlines))
        for story in index.stories.values():
            matcher.offer(story)
        for url, story_id in matcher.matches().items():
            self._headlines.inc()
            yield beam.pvalue.TaggedOutput(HEADLINES, _at(group, (url, story_id)))
        # Copies in this window of articles of earlier windows: their canonical's story, if
        # that story is still live (members of touched stories were emitted above).
        wanted = set(group.canonicals) - set(assigned)
        if wanted:
            for story_id, story in index.stories.items():
                if story_id in touched:
                    continue
                for member in wanted.intersection(story.members):
                    yield _at(group, (member, story_id))


def _at(group: _WindowGroup, value) -> TimestampedValue:
    from apache_beam.utils.timestamp import Timestamp

    return TimestampedValue(value, Timestamp(micros=group.end_micros))


class _GroupOfWindowFn(beam.DoFn):
    def __init__(self, memory: KeyedMemory):
        self._memory = memory

    def process(self, keyed, timestamp=beam.DoFn.TimestampParam, win=beam.DoFn.WindowParam) -> Iterator:
        _, values = keyed
        window_profiles, canonicals, headlines = [], [], []
        for value in values:
            if isinstance(value, StoryProfile):
                window_profiles.append(value)
            elif isinstance(value, HeadlineProfile):
                headlines.append(value)
            else:
                canonicals.append(value)
        yield _KEY, ("window", _WindowGroup(self._memory.window_no(timestamp), win.max_timestamp().micros,
                                            window_profiles, canonicals, headlines))


def _set_story(keyed: tuple[str, dict]) -> Iterator:
    _, joined = keyed
    story = next(iter(joined["story"]), None)
    for row in joined["rows"]:
        yield row._replace(story_id=story)


def _set_dropped_story(keyed: tuple[str, dict]) -> Iterator[Failure]:
    url, joined = keyed
    story = next(iter(joined["story"]), None)
    for row in joined["rows"]:
        yield failure_with_story(row, {url: story} if story else {})


def _story_row(keyed: tuple[str, dict]) -> Iterator[StoryRow]:
    _, joined = keyed
    for story in joined["story"]:
        yield story.to_row(TOP_KEYS, joined["keys"])


class AssignStoriesKeyed(beam.PTransform):
    """{"kept", "articles", "duplicates", "earlier", "headlines", "dropped"} -> {"articles",
    "duplicates", "stories", "state", "dropped", "failed"}, per window of a stream (see the
    module docstring; a window's dropped items are offered the live stories at its end).

    Args:
        config: the grouping's settings.
        memory: the stream's windows.
        embeddings: a sentence-embedding handler, or None (as ``AssignStories``).
    """

    def __init__(self, config: Optional[StoryConfig], memory: KeyedMemory,
                 embeddings: Optional[SentenceEmbeddingHandler] = None):
        super().__init__()
        self._config = config or StoryConfig()
        self._memory = memory
        self._embeddings = embeddings

    def expand(self, inputs: dict):
        kept, articles = inputs["kept"], inputs["articles"]
        duplicates, earlier = inputs["duplicates"], inputs["earlier"]
        memory = self._memory
        profiled, failed = profiles(kept, self._embeddings, profile_of)
        parts = [profiled, duplicates | "CanonicalIds" >> beam.Map(lambda d: d.canonical_article_id)]
        if inputs.get("headlines") is not None:
            parts.append(inputs["headlines"] | "ProfileHeadlines" >> beam.Map(headline_profile_of))
        groups = (
            parts
            | "ProfilesAndCanonicals" >> beam.Flatten()
            | "OneKey" >> beam.WithKeys(lambda _: _KEY)
            | "GroupWindow" >> beam.GroupByKey()
            | "StampWindow" >> beam.ParDo(_GroupOfWindowFn(memory)).with_output_types(STR_KEYED)
        )
        seed = (
            earlier
            | "SeedList" >> beam.combiners.ToList()
            | "AsSeed" >> beam.Map(lambda rows: (_KEY, ("seed", rows))).with_output_types(STR_KEYED)
        )
        assigned = (
            (into_global(groups, "Groups"), seed)
            | "SeedAndWindows" >> beam.Flatten()
            | "AssignInOrder" >> beam.ParDo(_AssignInOrderFn(self._config, micros_to_iso)).with_outputs(
                ROWS, STATE, HEADLINES, main=MAPPING)
        )
        mapping = back_into(assigned[MAPPING], memory, "Mapping")
        with_story = (
            {"rows": articles | "KeyArticles" >> beam.WithKeys(lambda a: a.article_id), "story": mapping}
            | "JoinArticles" >> beam.CoGroupByKey()
            | "ArticleStory" >> beam.FlatMap(_set_story).with_output_types(Article)
        )
        duplicates_with_story = (
            {"rows": duplicates | "KeyDuplicates" >> beam.WithKeys(lambda d: d.canonical_article_id),
             "story": mapping}
            | "JoinDuplicates" >> beam.CoGroupByKey()
            | "DuplicateStory" >> beam.FlatMap(_set_story).with_output_types(Duplicate)
        )
        keys = (
            with_story
            | "StoryKeys" >> beam.Map(lambda a: (a.story_id, sorted(_story_keys(a))))
            | "KeysPerStory" >> beam.GroupByKey()
            | "FlatKeys" >> beam.Map(lambda kv: (kv[0], [k for ks in kv[1] for k in ks]))
        )
        rows = (
            {"story": back_into(assigned[ROWS], memory, "Rows"), "keys": keys}
            | "JoinKeys" >> beam.CoGroupByKey()
            | "StoryRows" >> beam.FlatMap(_story_row).with_output_types(StoryRow)
        )
        state = back_into(assigned[STATE], memory, "State") | "TypeState" >> beam.Map(lambda s: s).with_output_types(
            StoryState)
        dropped = inputs.get("dropped")
        if dropped is None:
            dropped = kept.pipeline | "NoDropped" >> beam.Create([]).with_output_types(Failure)
        else:
            dropped = (
                {"rows": dropped | "KeyDropped" >> beam.WithKeys(lambda f: f.url or ""),
                 "story": back_into(assigned[HEADLINES], memory, "HeadlineStories")}
                | "JoinDropped" >> beam.CoGroupByKey()
                | "DroppedStory" >> beam.FlatMap(_set_dropped_story).with_output_types(Failure)
            )
        return {"articles": with_story, "duplicates": duplicates_with_story, "stories": rows, "state": state,
                "dropped": dropped, "failed": failed}
