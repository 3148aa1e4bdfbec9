"""Near-duplicates: the MinHash-LSH building blocks and the Beam graph around them."""

from __future__ import annotations

import datetime as dt
import random

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import SAMPLES, pinned_options
from samples_util import article

from schemas.elements import DedupEntry
from transforms._minhash import (
    DedupConfig,
    band_keys,
    candidate_probability,
    components,
    estimated_similarity,
    jaccard,
    shingles,
    signature,
)
from transforms.deduplicate import Deduplicate
from transforms.near_duplicates import FindNearDuplicates, within_window

CFG = DedupConfig()
SEED_000 = (SAMPLES / "seeds" / "000_5bbcf8d028a04151.txt").read_text(encoding="utf-8").split("Read More:")[0]
SEED_002 = (SAMPLES / "seeds" / "002_09d91b3b86820900.txt").read_text(encoding="utf-8")


def copy_edit(text: str, share: float, seed: int) -> str:
    """Replaces ``share`` of the words, as a copy desk would (deterministic)."""
    rng = random.Random(seed)
    words = text.split(" ")
    for i in rng.sample(range(len(words)), int(len(words) * share)):
        words[i] = rng.choice(["said", "the", "officials", "reported", "on", "Tuesday", "also"])
    return " ".join(words)


def test_shingles_are_word_trigrams_of_folded_text():
    assert shingles("The Cat sat. on the MAT", 3) == {"the cat sat", "cat sat on", "sat on the", "on the mat"}
    assert shingles("two words", 3) == {"two words"}
    assert shingles("", 3) == set()


def test_signatures_are_deterministic_and_estimate_jaccard():
    a, b = shingles(SEED_000, 3), shingles(copy_edit(SEED_000, 0.03, 1), 3)
    sig_a, sig_b = signature(a, CFG), signature(b, CFG)
    assert sig_a == signature(set(a), CFG) and len(sig_a) == CFG.num_perm
    assert abs(estimated_similarity(sig_a, sig_b) - jaccard(a, b)) < 0.12
    assert estimated_similarity(sig_a, signature(shingles(SEED_002, 3), CFG)) < 0.2


def test_banding_and_s_curve():
    sig = signature(shingles(SEED_000, 3), CFG)
    keys = band_keys(sig, CFG)
    assert len(keys) == CFG.bands and len(set(keys)) == CFG.bands
    assert band_keys(sig, CFG) == keys
    assert candidate_probability(0.8, 20, 5) > 0.999 and candidate_probability(0.1, 20, 5) < 0.001
    with pytest.raises(ValueError):
        DedupConfig(bands=7, rows=5, num_perm=100)


def test_union_find_components():
    groups = components([("b", "a"), ("c", "b"), ("x", "y")])
    assert groups == {"a": "a", "b": "a", "c": "a", "x": "x", "y": "x"}


def test_window():
    now = dt.datetime(2026, 1, 31, tzinfo=dt.timezone.utc)
    assert within_window(DedupEntry("a", None, [1], "2026-01-10T00:00:00+00:00"), 30, now)
    assert not within_window(DedupEntry("a", None, [1], "2025-12-01T00:00:00+00:00"), 30, now)


def _cluster():
    base = SEED_002
    times = ["2020-01-07T10:00:00+00:00", "2020-01-07T08:00:00+00:00", "2020-01-07T12:00:00+00:00",
             "2020-01-07T13:00:00+00:00", None]
    texts = [
        base,
        "TEHRAN (Agencies) - " + base,  # dateline added; the earliest: canonical
        base + "\nRead more: subscribe to our newsletter for the latest news.",
        copy_edit(base, 0.03, 7),
        base.replace("Syrian delegation discusses cooperation", "Syria and Iran pledge cooperation", 1),
    ]
    return [article(f"http://outlet{i}.test/story", t, p) for i, (t, p) in enumerate(zip(texts, times))]


def test_five_copies_give_one_article_and_four_duplicates():
    copies = _cluster()
    same_topic = article("http://other.test/story", SEED_000, "2020-01-07T09:00:00+00:00")
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | beam.Create([*copies, same_topic]) | Deduplicate()
        assert_that(out["articles"] | beam.Map(lambda a: a.url),
                    equal_to(["http://outlet1.test/story", "http://other.test/story"]))
        assert_that(out["duplicates"] | beam.Map(lambda d: (d.url, d.method, d.canonical_article_id,
                                                            d.similarity >= 0.8)),
                    equal_to([(c.url, "near_text", copies[1].article_id, True)
                              for c in copies if c is not copies[1]]), label="Duplicates")
        assert_that(out["index"] | beam.Map(lambda e: e.article_id),
                    equal_to([copies[1].article_id, same_topic.article_id]), label="Index")


def test_the_two_seed_reports_are_not_duplicates():
    a = article("http://a.test/1", SEED_000, "2020-01-07T06:00:00+00:00")
    b = article("http://b.test/1", SEED_002, "2020-01-07T12:45:00+00:00")
    assert jaccard(shingles(SEED_000, 3), shingles(SEED_002, 3)) < 0.1
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | beam.Create([a, b]) | Deduplicate()
        assert_that(out["duplicates"], equal_to([]), label="NoDuplicates")
        assert_that(out["articles"] | beam.Map(lambda x: x.url), equal_to([a.url, b.url]))


def test_a_copy_in_a_later_run_points_to_the_earlier_article():
    first = article("http://outlet1.test/story", SEED_002, "2020-01-07T12:00:00+00:00")
    # Run 2: a later copy, and a copy that even claims an earlier date: run 1's article stays canonical.
    later = article("http://outlet2.test/copy", copy_edit(SEED_002, 0.02, 3), "2020-01-08T09:00:00+00:00")
    backdated = article("http://outlet3.test/copy", SEED_002 + "\nAll rights reserved.",
                        "2020-01-01T00:00:00+00:00")
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    index = [DedupEntry(first.article_id, first.published,
                        signature(shingles(first.text, CFG.shingle_size), CFG), now),
             # Outside the window: if it were read, its earlier date would make it the canonical.
             DedupEntry("expired", "2019-01-01T00:00:00+00:00", signature(shingles(SEED_002, 3), CFG),
                        "2000-01-01T00:00:00+00:00")]
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        old = p | "Index" >> beam.Create(index)
        out = p | beam.Create([later, backdated]) | FindNearDuplicates(CFG, old)
        assert_that(out["articles"], equal_to([]), label="NothingNew")
        assert_that(out["duplicates"] | beam.Map(lambda d: (d.url, d.canonical_article_id)),
                    equal_to([(later.url, first.article_id), (backdated.url, first.article_id)]))
        assert_that(out["index"], equal_to([]), label="IndexUnchanged")


def test_index_files_are_pruned_by_the_window(tmp_path):
    import pyarrow.parquet as pq

    from schemas.tables import DEDUP_STATE_SCHEMA, to_table
    from transforms.state import prune_dedup_index

    folder = tmp_path / "state" / "dedup"
    folder.mkdir(parents=True)
    sig = signature(shingles(SEED_000, 3), CFG)
    pq.write_table(to_table([DedupEntry("a", None, sig, "2026-01-01T00:00:00+00:00")], "old", DEDUP_STATE_SCHEMA),
                   folder / "old-00000.parquet")
    pq.write_table(to_table([DedupEntry("a", None, sig, "2026-01-01T00:00:00+00:00"),
                             DedupEntry("b", None, sig, "2026-03-01T00:00:00+00:00")], "mixed",
                            DEDUP_STATE_SCHEMA), folder / "mixed-00000.parquet")
    now = dt.datetime(2026, 3, 10, tzinfo=dt.timezone.utc)
    pruned = prune_dedup_index(str(tmp_path), 30, now)
    assert [p.rsplit("/", 1)[-1] for p in pruned] == ["old-00000.parquet"]
    assert sorted(p.name for p in folder.iterdir()) == ["mixed-00000.parquet"]  # one live entry keeps it
