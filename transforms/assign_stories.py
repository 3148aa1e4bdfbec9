"""AssignStories: Article -> Article with ``story_id``; Duplicate -> Duplicate with its
canonical's ``story_id``; and one StoryRow per story (the ``stories/`` table).

Consumes the kept articles (after TagEntities) and the duplicates; produces them again
with ``story_id`` set, plus the stories. The algorithm is ``transforms._stories``: each
article, in publication order, joins the story whose centroid and first article are both
close enough, within a time window, else starts a story named after itself.

Scope (first version): a batch run's own articles. Assignment is one ordered pass, so it
runs as one group on one worker, over profiles only (stemmed word counts, no text: about
the size of the text's vocabulary per article); IDF comes from the run's articles. Stories
are not yet carried to the next run (no ``state/`` index) and a stream writes
``story_id`` null.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import Article, Duplicate, StoryRow
from transforms._stories import DocumentFrequencies, StoryConfig, StoryIndex, StoryProfile, profile

__all__ = ["AssignStories", "StoryConfig"]

STAGE = "stories"
_STORY_LABELS = ("PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT")
ASSIGNMENTS, STORIES = "assignments", "stories"


def profile_of(article: Article) -> StoryProfile:
    keys = [e.key for e in article.entities or () if e.label in _STORY_LABELS]
    return profile(article.article_id, article.published or article.fetched_at, article.source, article.title,
                   article.text, keys)


class _AssignFn(beam.DoFn):
    """All of a run's profiles (one group) -> (article_id, story_id) and StoryRows."""

    def __init__(self, config: StoryConfig):
        self._config = config
        self._stories = Metrics.counter(STAGE, "stories")
        self._joined = Metrics.counter(STAGE, "articles_joined")

    def process(self, keyed: tuple[str, Iterable[StoryProfile]]) -> Iterator:
        profiles = list(keyed[1])
        df = DocumentFrequencies()
        for p in profiles:
            df.add(p.terms)
        index = StoryIndex(self._config)
        assigned = index.assign_all(profiles, df)
        for article_id, story_id in assigned.items():
            if article_id != story_id:
                self._joined.inc()
            yield article_id, story_id
        for story in index.stories.values():
            self._stories.inc()
            yield beam.pvalue.TaggedOutput(STORIES, StoryRow(
                story.story_id, story.first_published, story.last_published, story.articles,
                [name for name, _ in story.outlets.most_common()], story.title,
                [key for key, _ in story.keys.most_common(10)]))


def _with_story(keyed: tuple[str, dict]) -> Iterator:
    _, joined = keyed
    story = next(iter(joined["story"]), None)
    for row in joined["rows"]:
        yield row._replace(story_id=story)


class AssignStories(beam.PTransform):
    """{"articles": Article, "duplicates": Duplicate} -> {"articles", "duplicates", "stories"}.

    Args:
        config: the grouping's settings (``transforms._stories.StoryConfig``).
    """

    def __init__(self, config: StoryConfig = None):
        super().__init__()
        self._config = config or StoryConfig()

    def expand(self, inputs: dict):
        articles, duplicates = inputs["articles"], inputs["duplicates"]
        assigned = (
            articles
            | "Profile" >> beam.Map(profile_of)
            | "OneGroup" >> beam.WithKeys(lambda _: "")
            | "GroupAll" >> beam.GroupByKey()
            | "Assign" >> beam.ParDo(_AssignFn(self._config)).with_outputs(STORIES, main=ASSIGNMENTS)
        )
        story_of = assigned[ASSIGNMENTS]
        with_story = (
            {"rows": articles | "KeyArticles" >> beam.WithKeys(lambda a: a.article_id), "story": story_of}
            | "JoinArticles" >> beam.CoGroupByKey()
            | "ArticleStory" >> beam.FlatMap(_with_story).with_output_types(Article)
        )
        duplicates_with_story = (
            {"rows": duplicates | "KeyByCanonical" >> beam.WithKeys(lambda d: d.canonical_article_id),
             "story": story_of}
            | "JoinDuplicates" >> beam.CoGroupByKey()
            | "DuplicateStory" >> beam.FlatMap(_with_story).with_output_types(Duplicate)
        )
        return {"articles": with_story, "duplicates": duplicates_with_story,
                "stories": assigned[STORIES] | "TypeStories" >> beam.Map(lambda s: s).with_output_types(StoryRow)}
