"""Element types that cross stage boundaries.

Every type is a frozen ``typing.NamedTuple`` with a ``RowCoder`` registered, so runners
encode them with Beam's portable schema coder instead of pickling. Timestamps travel as
ISO-8601 strings in UTC (``2020-01-07T10:00:00+00:00``); ``schemas.tables`` turns them
into Arrow ``timestamp[us, UTC]`` at the sink.
"""

from __future__ import annotations

import traceback
import typing
from typing import NamedTuple, Optional, Sequence

import apache_beam as beam

from schemas.timeutil import utc_now_iso

# Failure severities. Only "error" and "drop" rows account for items; "warning" rows
# describe a problem with something that still went on (e.g. a bozo feed that recovered).
ERROR = "error"
DROP = "drop"
WARNING = "warning"

# What a failure row is about: a feed (before items exist) or an item (a feed entry).
UNIT_FEED = "feed"
UNIT_ITEM = "item"

DETAIL_MAX_CHARS = 500


class FeedSource(NamedTuple):
    """One entry of the feed list, with its per-feed options (from YAML lists)."""

    url: str
    name: Optional[str]
    tags: Sequence[str]
    language: Optional[str]


class FetchedFeed(NamedTuple):
    """A feed document as fetched: raw bytes plus what the server said about them."""

    feed_url: str
    final_url: str
    body: bytes
    content_type: Optional[str]
    http_status: int
    source: FeedSource


class FeedValidators(NamedTuple):
    """What a conditional GET of a feed sends next time (kept in OUT/state/feeds/)."""

    feed_url: str
    etag: Optional[str]
    last_modified: Optional[str]
    checked_at: str


class SeenUrl(NamedTuple):
    """A canonical URL already ingested (kept in OUT/state/seen/): not fetched again."""

    canonical_url: str
    article_id: Optional[str]


class DedupEntry(NamedTuple):
    """An article in the near-duplicate index (OUT/state/dedup/): its MinHash signature."""

    article_id: str
    published: Optional[str]
    signature: Sequence[int]
    indexed_at: str


class FeedItem(NamedTuple):
    """One entry of a feed, with its link resolved to an absolute URL."""

    feed_url: str
    link: str
    canonical_url: str
    guid: Optional[str]
    title: Optional[str]
    summary: Optional[str]
    published: Optional[str]
    authors: Sequence[str]
    categories: Sequence[str]
    updated: Optional[str] = None
    content: Optional[str] = None
    image_url: Optional[str] = None
    feed_name: Optional[str] = None
    language_hint: Optional[str] = None


class FetchedPage(NamedTuple):
    """An article page as fetched, with the feed item that pointed at it."""

    item: FeedItem
    final_url: str
    body: bytes
    content_type: Optional[str]
    http_status: int
    fetched_at: str


class Entity(NamedTuple):
    """A named-entity mention; ``start``/``end`` are character offsets into ``text``."""

    text: str
    label: str
    start: int
    end: int
    key: str


class EntityRow(NamedTuple):
    """One (article, entity key, label): the flat ``entities/`` table analysts GROUP BY."""

    article_id: str
    key: str
    label: str
    surface_forms: Sequence[str]
    mentions: int
    published: Optional[str]
    fetched_at: str
    source: Optional[str]
    url: str


class Article(NamedTuple):
    """A page turned into clean text and metadata (``entities`` filled by TagEntities)."""

    article_id: str
    url: str
    canonical_url: str
    feed_url: str
    source: Optional[str]
    title: Optional[str]
    authors: Sequence[str]
    published: Optional[str]
    modified: Optional[str]
    fetched_at: str
    language: Optional[str]
    text: str
    word_count: int
    description: Optional[str]
    image_url: Optional[str]
    tags: Sequence[str]
    text_source: str
    content_hash: str
    entities: Optional[Sequence[Entity]]
    item_url: Optional[str] = None
    story_id: Optional[str] = None  # filled by AssignStories (batch runs)


class Duplicate(NamedTuple):
    """An article that copies another; ``canonical_article_id`` names the one kept."""

    url: str
    article_id: str
    canonical_article_id: str
    method: str
    similarity: float
    feed_url: str
    source: Optional[str]
    title: Optional[str]
    published: Optional[str]
    fetched_at: Optional[str]
    story_id: Optional[str] = None  # the canonical article's story (batch runs)


class StoryRow(NamedTuple):
    """One story of a run: articles of different outlets about one event (``stories/``)."""

    story_id: str
    first_published: str
    last_published: str
    articles: int
    outlets: Sequence[str]
    title: Optional[str]
    top_entity_keys: Sequence[str]


class StoryState(NamedTuple):
    """A story as a later run needs it to add articles (``OUT/state/stories/``).

    Words and counts are parallel lists (the centroid: the story's most frequent stemmed
    words; the leader: its first article's words), as are outlets and entity keys. With
    ``--story_embeddings``, ``vector`` is the sum of its articles' unit sentence embeddings
    and ``leader_vector`` its first article's (null without: schema 1.2.0).
    """

    story_id: str
    first_published: str
    last_published: str
    articles: int
    article_ids: Sequence[str]
    outlets: Sequence[str]
    outlet_articles: Sequence[int]
    title: Optional[str]
    terms: Sequence[str]
    term_counts: Sequence[int]
    leader_terms: Sequence[str]
    leader_counts: Sequence[int]
    keys: Sequence[str]
    key_articles: Sequence[int]
    updated_at: str
    vector: Optional[Sequence[float]] = None
    leader_vector: Optional[Sequence[float]] = None


class Headline(NamedTuple):
    """An item dropped before story grouping (a login, paywall or cookie wall; a text under
    ``--min_words``) that still says what it reports: its headline, and a short text's words.
    Story grouping lets it join a story of kept articles (never start or change one), so an
    outlet whose report could not be read still counts as covering the story."""

    url: str  # the page's final URL, as in its failures/ row
    feed_url: Optional[str]
    source: Optional[str]
    title: str
    text: str  # a too short text's words; empty for a wall (its text is the wall's)
    published: str
    language: Optional[str]


class Failure(NamedTuple):
    """A failure, warning or deliberate drop, with enough context to act on it."""

    stage: str
    url: Optional[str]
    feed_url: Optional[str]
    error: str
    detail: str
    http_status: Optional[int]
    severity: str
    unit: str
    at: str
    # An item dropped as ``interstitial`` or ``too_short`` whose headline (and words) joined
    # a story of kept articles: that story's id (transforms.assign_stories); else None.
    story_id: Optional[str] = None

    @classmethod
    def of(
        cls,
        stage: str,
        url: Optional[str],
        exc: BaseException | str,
        *,
        feed_url: Optional[str] = None,
        detail: Optional[str] = None,
        http_status: Optional[int] = None,
        severity: str = ERROR,
        unit: str = UNIT_ITEM,
    ) -> "Failure":
        """Builds a row from an exception (its class is the error) or a reason string."""
        if isinstance(exc, BaseException):
            error = type(exc).__name__
            text = detail if detail is not None else (str(exc) or _last_frame(exc))
            http_status = http_status if http_status is not None else getattr(exc, "status", None)
        else:
            error, text = exc, detail or ""
        return cls(
            stage=stage,
            url=url,
            feed_url=feed_url,
            error=error,
            detail=text[:DETAIL_MAX_CHARS],
            http_status=http_status,
            severity=severity,
            unit=unit,
            at=utc_now_iso(),
        )


def _last_frame(exc: BaseException) -> str:
    frames = traceback.format_exception_only(type(exc), exc)
    return frames[-1].strip() if frames else type(exc).__name__


ELEMENT_TYPES = (FeedSource, FetchedFeed, FeedValidators, SeenUrl, DedupEntry, FeedItem, FetchedPage, Entity,
                 EntityRow, Article, Duplicate, Failure, Headline)

for _type in ELEMENT_TYPES:
    # The annotations are strings here (``from __future__ import annotations``); Beam 2.77
    # resolves them, older releases (2.62, the Flink job server's) made every field
    # ``pythonsdk_any`` with no representation, which the Java runner cannot decode.
    _type.__annotations__ = typing.get_type_hints(_type)
    beam.coders.registry.register_coder(_type, beam.coders.RowCoder)
