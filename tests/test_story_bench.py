"""The story benchmark's count of unrelated articles in a story (benchmarks/story_signal.py),
which the README quotes against the issue's "no story has more than 3 articles"; and the
language benchmark's profiles (benchmarks/story_languages.py)."""

from __future__ import annotations

import itertools
import random

from benchmarks.story_signal import most_unrelated, with_sources


def _brute_force(members: list[frozenset]) -> int:
    for size in range(len(members), 0, -1):
        for chosen in itertools.combinations(members, size):
            if all(not (a & b) for a, b in itertools.combinations(chosen, 2)):
                return size
    return 0


def test_articles_of_one_source_each_count_as_their_distinct_sources():
    members = [frozenset([g]) for g in (1, 1, 1, 2, 2, 3, 4, 4, 4, 4)]
    assert most_unrelated(members) == 4
    assert most_unrelated([frozenset([7])] * 30) == 1


def test_a_chain_of_shared_sources_is_not_one_source():
    # a shares with b, b with c, c with d: a and c (or a and d, or b and d) share nothing
    chain = [frozenset({1}), frozenset({1, 2}), frozenset({2, 3}), frozenset({3})]
    assert most_unrelated(chain) == 2
    assert most_unrelated([frozenset()] * 3) == 3  # no known source: unrelated to everything


def test_the_count_is_the_largest_set_sharing_no_source():
    rng = random.Random(3)
    for _ in range(200):
        members = [frozenset(rng.sample(range(9), rng.randint(0, 3))) for _ in range(rng.randint(1, 9))]
        assert most_unrelated(members) == _brute_force(members), members


def test_an_article_carries_every_source_of_its_sentences():
    sources = [(["Alpha one.", "Alpha two."], 0), (["Beta one.", "Shared line."], 1), (["Shared line."], 2)]
    texts, groups = with_sources([["Alpha two.", "Shared line."], ["Unknown line."]], sources)
    assert texts == ["Alpha two. Shared line.", "Unknown line."]
    assert groups == [frozenset({0, 1, 2}), frozenset()]


def test_the_language_benchmarks_newsbeam_variant_profiles_as_newsbeam_does():
    """benchmarks/story_languages.py rebuilds profiles three ways; its ``non_english`` way
    must be newsbeam's own ``profile``, or its figures would be about something else."""
    from benchmarks.story_languages import profile_as
    from transforms._stories import profile

    texts = [("pt", "Não há uma manhã em que a fila da padaria não chegue à esquina de Alfama."),
             ("en-GB", "The queue at the bakery in Alfama reaches the corner every morning."),
             (None, "Uma fila de dois quarteirões.")]
    for language, text in texts:
        mine = profile_as("non_english", "a", "2020-01-02T10:00:00+00:00", "Title words", text, language)
        assert mine.terms == profile("a", "2020-01-02T10:00:00+00:00", "x", "Title words", text,
                                     language=language).terms
    portuguese = texts[0][1]
    assert "que" in profile_as("none", "a", "t", "", portuguese, "pt").terms
    assert "the" not in profile_as("all", "a", "t", "", texts[1][1], "en-GB").terms


def test_the_scale_corpus_records_the_sentences_each_page_was_made_of(tmp_path):
    """benchmarks/story_scale.py counts unrelated articles in a story by the pool sentences
    each page carries: they must be the page's headline and body, and only those."""
    import html

    from benchmarks.corpus import build_corpus
    from tests.conftest import shared_path

    drawn: dict[str, list[str]] = {}
    build_corpus(shared_path("data"), tmp_path, 6, 2, drawn=drawn)
    assert sorted(drawn) == sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("a/h*/*.html"))
    for path, sentences in drawn.items():
        page = html.unescape((tmp_path / path).read_text(encoding="utf-8"))
        article = page.split("<article>", 1)[1].split("</article>", 1)[0]
        headline, body = sentences[0], sentences[1:]
        assert f"<h1>{headline[:120]}</h1>" in article
        assert 16 <= len(body) <= 40 and all(s in article for s in body)
        # the sidebar and comments hold other pool sentences, not counted as the article's
        rest = page.replace(article, "")
        assert not any(s in rest for s in body)


def test_the_scale_corpus_can_show_sentences_the_caller_chose(tmp_path):
    """``no_shared_sentences`` pages (benchmarks/story_scale.py) show the sentences given for
    them, all of them, the first as the headline."""
    import html

    from benchmarks.corpus import build_corpus, sentences
    from benchmarks.story_signal import disjoint_sentences
    from tests.conftest import shared_path

    data = shared_path("data")
    chosen = disjoint_sentences(sentences(data), 4, random.Random(5))
    drawn: dict[str, list[str]] = {}
    build_corpus(data, tmp_path, 4, 2, drawn=drawn, chosen=chosen)
    for n, (path, shown) in enumerate(sorted(drawn.items(), key=lambda kv: kv[0][-11:])):
        assert shown == chosen[n]
        article = html.unescape((tmp_path / path).read_text(encoding="utf-8")).split("<article>", 1)[1]
        article = article.split("</article>", 1)[0]
        assert f"<h1>{chosen[n][0][:120]}</h1>" in article and all(s in article for s in chosen[n][1:])


def test_no_two_articles_within_72_hours_share_a_sentence_over_any_span():
    """``disjoint_sentences`` over 28 days and over 112 (``story_density`` and
    ``story_scale --same_density`` spread 4,000 articles that far): two articles published
    within 72 hours of each other (``_published``, the corpus pages' times) share no sentence."""
    from datetime import datetime, timedelta

    from benchmarks.story_signal import _published, disjoint_sentences

    pool = [f"Sentence number {k} of a made-up pool." for k in range(2400)]
    for n, days in ((300, 28), (1200, 112)):
        articles = disjoint_sentences(pool, n, random.Random(7), per_article=8, days=days)
        at = [datetime.fromisoformat(_published(i, days)) for i in range(n)]
        assert max(at) - min(at) > timedelta(days=days - 2)  # the span is the one asked for
        order = sorted(range(n), key=at.__getitem__)
        for k, i in enumerate(order):
            for j in order[k + 1:]:
                if at[j] - at[i] > timedelta(hours=72):
                    break
                assert not set(articles[i]) & set(articles[j]), (i, j)


def test_corpus_pages_carry_the_publication_time_of_their_span():
    """The pages of ``benchmarks.corpus`` are published at ``story_signal._published``'s times
    (the benchmarks' two views of one corpus agree), over the days asked for."""
    from benchmarks.corpus import _page
    from benchmarks.story_signal import _published

    pool = [f"Sentence number {k} of a made-up pool." for k in range(200)]
    for n, days in ((5, 28), (27, 28), (29, 28), (100, 112), (111, 112)):
        page = _page(random.Random(n), pool, 0, n, days=days)[2]
        stamp = _published(n, days).replace("+00:00", "Z")
        assert f'<meta property="article:published_time" content="{stamp}">' in page
