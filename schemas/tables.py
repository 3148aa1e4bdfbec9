"""The versioned Parquet schemas of the output dataset (the analytics contract).

Schemas evolve only by adding nullable columns; bump ``SCHEMA_VERSION`` when they do.
Every file carries the version in its metadata and articles carry it as a column too.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional

import pyarrow as pa

from schemas.elements import (
    Article,
    DedupEntry,
    Duplicate,
    EntityRow,
    Failure,
    FeedValidators,
    SeenUrl,
    StoryRow,
    StoryState,
)
from schemas.timeutil import parse_iso

SCHEMA_VERSION = "1.3.0"  # 1.1.0: story_id in articles and duplicates, the stories table (and state/stories/);
# 1.2.0: state/stories/ gains vector and leader_vector (sentence embeddings, null without them);
# 1.3.0: failures gains story_id (an item dropped as interstitial or too_short that joined a story)
_META = {b"newsbeam.schema_version": SCHEMA_VERSION.encode()}
TS = pa.timestamp("us", tz="UTC")

ENTITY_TYPE = pa.struct(
    [
        ("text", pa.string()),
        ("label", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("key", pa.string()),
    ]
)

ARTICLE_SCHEMA = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("canonical_url", pa.string(), nullable=False),
        ("feed_url", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("authors", pa.list_(pa.string())),
        ("published", TS),
        ("modified", TS),
        ("fetched_at", TS),
        ("language", pa.string()),
        ("text", pa.string()),
        ("word_count", pa.int32()),
        ("description", pa.string()),
        ("image_url", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("text_source", pa.string()),
        ("content_hash", pa.string()),
        ("entities", pa.list_(ENTITY_TYPE)),
        ("item_url", pa.string()),
        ("run_id", pa.string()),
        ("schema_version", pa.string()),
        ("story_id", pa.string()),
    ],
    metadata=_META,
)

STORY_SCHEMA = pa.schema(
    [
        pa.field("story_id", pa.string(), nullable=False),
        ("first_published", TS),
        ("last_published", TS),
        ("articles", pa.int32()),
        ("outlets", pa.list_(pa.string())),
        ("title", pa.string()),
        ("top_entity_keys", pa.list_(pa.string())),
        ("run_id", pa.string()),
    ],
    metadata=_META,
)

ENTITY_TABLE_SCHEMA = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        ("label", pa.string()),
        ("surface_forms", pa.list_(pa.string())),
        ("mentions", pa.int32()),
        ("published", TS),
        ("fetched_at", TS),
        ("source", pa.string()),
        ("url", pa.string()),
        ("run_id", pa.string()),
    ],
    metadata=_META,
)

DUPLICATE_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("canonical_article_id", pa.string(), nullable=False),
        ("method", pa.string()),
        ("similarity", pa.float64()),
        ("feed_url", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("published", TS),
        ("fetched_at", TS),
        ("run_id", pa.string()),
        ("story_id", pa.string()),
    ],
    metadata=_META,
)

FAILURE_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("stage", pa.string()),
        ("url", pa.string()),
        ("feed_url", pa.string()),
        ("error", pa.string()),
        ("detail", pa.string()),
        ("http_status", pa.int32()),
        ("severity", pa.string()),
        ("unit", pa.string()),
        ("at", TS),
        ("story_id", pa.string()),  # 1.3.0: the story a dropped item joined by its headline
    ],
    metadata=_META,
)

# State tables (OUT/state/): what the next run needs. Not part of the analytics contract.
FEED_STATE_SCHEMA = pa.schema(
    [
        pa.field("feed_url", pa.string(), nullable=False),
        ("etag", pa.string()),
        ("last_modified", pa.string()),
        ("checked_at", TS),
        ("run_id", pa.string()),
    ],
    metadata=_META,
)

SEEN_STATE_SCHEMA = pa.schema(
    [
        pa.field("canonical_url", pa.string(), nullable=False),
        ("article_id", pa.string()),
        ("run_id", pa.string()),
    ],
    metadata=_META,
)

DEDUP_STATE_SCHEMA = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        ("published", TS),
        ("signature", pa.list_(pa.uint32())),
        ("indexed_at", TS),
        ("run_id", pa.string()),
    ],
    metadata=_META,
)

STORY_STATE_SCHEMA = pa.schema(
    [
        pa.field("story_id", pa.string(), nullable=False),
        ("first_published", TS),
        ("last_published", TS),
        ("articles", pa.int32()),
        ("article_ids", pa.list_(pa.string())),
        ("outlets", pa.list_(pa.string())),
        ("outlet_articles", pa.list_(pa.int32())),
        ("title", pa.string()),
        ("terms", pa.list_(pa.string())),
        ("term_counts", pa.list_(pa.int32())),
        ("leader_terms", pa.list_(pa.string())),
        ("leader_counts", pa.list_(pa.int32())),
        ("keys", pa.list_(pa.string())),
        ("key_articles", pa.list_(pa.int32())),
        ("updated_at", TS),
        ("run_id", pa.string()),
        ("vector", pa.list_(pa.float32())),
        ("leader_vector", pa.list_(pa.float32())),
    ],
    metadata=_META,
)

_TS_FIELDS = {"published", "modified", "fetched_at", "at", "checked_at", "indexed_at", "first_published",
              "last_published", "updated_at"}


def _record(row: NamedTuple, run_id: str, schema: pa.Schema) -> dict[str, Any]:
    values = row._asdict()
    values["run_id"] = run_id
    values["schema_version"] = SCHEMA_VERSION
    out: dict[str, Any] = {}
    for name in schema.names:
        value = values.get(name)
        if name in _TS_FIELDS:
            value = parse_iso(value)
        elif name == "entities" and value is not None:
            value = [e._asdict() for e in value]
        elif isinstance(value, tuple) and not hasattr(value, "_fields"):
            value = list(value)
        out[name] = value
    return out


def to_table(rows: Iterable[NamedTuple], run_id: str, schema: pa.Schema) -> pa.Table:
    """Builds a table with exactly ``schema``; a row that does not fit raises here, not later."""
    return pa.Table.from_pylist([_record(r, run_id, schema) for r in rows], schema=schema)


class TableSpec(NamedTuple):
    """Where a table goes (``directory`` under the root) and how its rows are partitioned."""

    name: str
    schema: pa.Schema
    partition_column: Optional[str]
    partition_of: Callable[[Any], str]
    directory: str


def _date_of(iso: str | None) -> str:
    parsed = parse_iso(iso)
    return parsed.date().isoformat() if parsed else "unknown"


def _unpartitioned(_row: Any) -> str:
    return ""


TABLES: Mapping[str, TableSpec] = {
    "articles": TableSpec("articles", ARTICLE_SCHEMA, "published_date",
                          lambda a: _date_of(a.published or a.fetched_at), "articles"),
    "entities": TableSpec("entities", ENTITY_TABLE_SCHEMA, "published_date",
                          lambda e: _date_of(e.published or e.fetched_at), "entities"),
    "duplicates": TableSpec("duplicates", DUPLICATE_SCHEMA, "published_date",
                            lambda d: _date_of(d.published or d.fetched_at), "duplicates"),
    "failures": TableSpec("failures", FAILURE_SCHEMA, "run_date", lambda f: _date_of(f.at), "failures"),
    "stories": TableSpec("stories", STORY_SCHEMA, "published_date", lambda s: _date_of(s.first_published), "stories"),
    "state_feeds": TableSpec("state_feeds", FEED_STATE_SCHEMA, None, _unpartitioned, "feeds"),
    "state_seen": TableSpec("state_seen", SEEN_STATE_SCHEMA, None, _unpartitioned, "seen"),
    "state_dedup": TableSpec("state_dedup", DEDUP_STATE_SCHEMA, None, _unpartitioned, "dedup"),
    "state_stories": TableSpec("state_stories", STORY_STATE_SCHEMA, None, _unpartitioned, "stories"),
}

ROW_TYPES = {"articles": Article, "entities": EntityRow, "duplicates": Duplicate, "failures": Failure,
             "stories": StoryRow,
             "state_feeds": FeedValidators, "state_seen": SeenUrl, "state_dedup": DedupEntry,
             "state_stories": StoryState}
