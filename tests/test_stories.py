"""Story grouping's algorithm (transforms._stories) on the demo's real pages and on made-up
word lists whose overlaps are known (the stage: tests/test_e2e.py)."""

from __future__ import annotations

from collections import Counter

import pytest
from samples_util import page

from transforms._stories import (
    ENGLISH_VOICE,
    DocumentFrequencies,
    HeadlineMatcher,
    StoryConfig,
    StoryIndex,
    StoryProfile,
    Weighted,
    profile,
    stems,
    stop_words,
)
from transforms.extract_articles import extract_article

pytest.importorskip("snowballstemmer")

DEMO = {
    "iranpress": "iranpress/2020/01/07/shamkhani-khamis-meeting.html",
    "observer": "observer/news/syrian-delegation-tehran.html",
    "snow": "observer/news/snow-closes-roads.html",
    "tram": "iranpress/2020/01/08/tram-line-approved.html",
}


def _frequencies(profiles) -> DocumentFrequencies:
    df = DocumentFrequencies()
    for p in profiles:
        df.add(p.terms)
    return df


def _made_up(article_id: str, published: str, words: str) -> StoryProfile:
    return StoryProfile(article_id, published, f"outlet-{article_id}", None, dict(Counter(words.split())))


def test_stems_join_inflections_and_number_words():
    assert stems("Two hurt when snowmobile crashed") & stems("2 injured when snowmobiles crash") == Counter(
        {"2": 1, "when": 1, "snowmobil": 1, "crash": 1})


def test_the_seed_reports_share_a_story_and_the_unrelated_demo_articles_do_not():
    articles = {name: extract_article(page(path)) for name, path in DEMO.items()}
    profiles = [profile(a.article_id, f"2020-01-0{7 + i % 2}T10:00:00+00:00", a.source, a.title, a.text)
                for i, a in enumerate(articles.values())]
    story = StoryIndex().assign_all(profiles, _frequencies(profiles))
    ids = {name: story[a.article_id] for name, a in articles.items()}
    assert ids["iranpress"] == ids["observer"]
    assert len({ids["iranpress"], ids["snow"], ids["tram"]}) == 3


def test_the_earliest_article_names_the_story_whatever_the_input_order():
    words = "khamis shamkhani tehran syria delegation security council meeting"
    profiles = [_made_up("b-later", "2020-01-07T12:00:00+00:00", words),
                _made_up("z-first", "2020-01-07T08:00:00+00:00", words + " minister"),
                _made_up("c-unrelated", "2020-01-07T09:00:00+00:00", "snow roads closed drivers ice")]
    df = _frequencies(profiles)
    for order in (profiles, profiles[::-1]):
        story = StoryIndex().assign_all(order, df)
        assert story["b-later"] == story["z-first"] == "z-first"
        assert story["c-unrelated"] == "c-unrelated"


def test_a_follow_up_outside_the_window_starts_its_own_story():
    words = "khamis shamkhani tehran syria delegation security council meeting"
    near = [_made_up("first", "2020-01-07T08:00:00+00:00", words),
            _made_up("next-day", "2020-01-08T08:00:00+00:00", words)]
    late = _made_up("a-week-on", "2020-01-14T09:00:00+00:00", words)
    other = _made_up("other", "2020-01-07T09:00:00+00:00", "snow roads closed drivers ice")
    df = _frequencies([*near, late, other])
    story = StoryIndex(StoryConfig(window_hours=72)).assign_all([*near, late, other], df)
    assert story["next-day"] == "first"
    assert story["a-week-on"] == "a-week-on"
    assert StoryIndex(StoryConfig(window_hours=24 * 8)).assign_all([*near, late, other], df)["a-week-on"] == "first"


def test_a_story_is_not_a_chain_of_weak_links():
    """A is about x, B half x and half y, C about y: B may join A's story, but C, which
    shares nothing with A, must not join it through B."""
    x = "alpha bravo charlie delta echo foxtrot golf hotel"
    y = "india juliet kilo lima mike november oscar papa"
    profiles = [_made_up("a", "2020-01-07T08:00:00+00:00", x),
                _made_up("b", "2020-01-07T09:00:00+00:00", f"{x} {y}"),
                _made_up("c", "2020-01-07T10:00:00+00:00", y),
                *[_made_up(f"filler{i}", "2020-01-07T07:00:00+00:00", f"w{i} v{i} u{i}") for i in range(6)]]
    story = StoryIndex(StoryConfig(threshold=0.5)).assign_all(profiles, _frequencies(profiles))
    assert story["b"] == "a"  # cosine 0.71 with A
    assert story["c"] != "a"  # 0.71 with B alone (single link would merge it), 0.45 with the story's centroid


def test_candidates_are_bounded_by_the_index_not_by_the_number_of_stories():
    """200 articles that share 30 fairly rare words (none similar enough to join): each is
    scored against at most max_candidates stories, not against the 199 others."""
    config = StoryConfig(max_candidates=5, max_postings=5, threshold=1.1)  # nothing joins
    shared = " ".join(f"common{i}" for i in range(30))
    profiles = [_made_up(f"a{i:03d}", f"2020-01-07T{i // 60:02d}:{i % 60:02d}:00+00:00",
                         f"{shared} own{i}a own{i}b own{i}c own{i}d") for i in range(200)]
    df = _frequencies(profiles)
    for i in range(2000):  # a background in which the shared words are rare
        df.add([f"background{i}"])
    index = StoryIndex(config)
    index.assign_all(profiles, df)
    assert len(index.stories) == 200
    assert 4 * 199 <= index.compared <= 5 * 199


def test_a_story_carried_through_its_state_row_continues_as_if_never_stored():
    """Split one sequence of articles over two runs (the first run's stories stored as
    StoryState rows and loaded back): every article gets the story it gets in one pass."""
    from transforms._stories import Story

    words = "khamis shamkhani tehran syria delegation security council meeting"
    profiles = [_made_up("a", "2020-01-07T08:00:00+00:00", words + " minister"),
                _made_up("b", "2020-01-07T09:00:00+00:00", "snow roads closed drivers ice"),
                _made_up("c", "2020-01-07T12:00:00+00:00", words),
                _made_up("d", "2020-01-08T07:00:00+00:00", words + " agreement signed"),
                _made_up("e", "2020-01-08T08:00:00+00:00", "snow ice schools closed")]
    df = _frequencies(profiles)
    whole = StoryIndex().assign_all(profiles, df)
    first = StoryIndex()
    first.assign_all(profiles[:3], df)
    rows = [story.to_state("2020-01-07T13:00:00+00:00") for story in first.stories.values()]
    second = StoryIndex(stories=[Story.from_state(row) for row in rows])
    second.reindex(df)
    split = {**{m: s.story_id for s in first.stories.values() for m in s.members},
             **second.assign_all(profiles[3:], df)}
    assert split == whole
    assert whole["d"] == "a" and whole["e"] == "b"  # the follow-ups joined stories of the first run
    continued = second.stories["a"]
    assert (continued.articles, continued.members, continued.first_published) == (
        3, ["a", "c", "d"], "2020-01-07T08:00:00+00:00")


def test_times_are_ordered_as_instants_not_as_text():
    """06:00 at +03:30 is 02:30 UTC: earlier than 05:00Z although its text sorts later, so
    it names the story."""
    words = "khamis shamkhani tehran syria delegation security council meeting"
    profiles = [_made_up("utc", "2020-01-07T05:00:00Z", words),
                _made_up("tehran", "2020-01-07T06:00:00+03:30", words + " minister"),
                _made_up("other", "2020-01-07T04:00:00Z", "snow roads closed drivers ice")]
    story = StoryIndex().assign_all(profiles, _frequencies(profiles))
    assert story == {"utc": "tehran", "tehran": "tehran", "other": "other"}


def test_stories_close_once_no_later_article_can_join_them_and_assign_as_one_pass():
    """Ten days, three topics a day, each followed up the next day: assign_closing gives
    every article the story assign_all gives, yields each story once, and holds only the
    stories of the last few days at any time (window 72 h), not the whole run's."""
    profiles = []
    for day in range(10):
        for topic in range(3):
            words = f"topic{day}x{topic} alpha{day}x{topic} beta{day}x{topic} gamma{day}x{topic}"
            profiles.append(_made_up(f"d{day:02d}t{topic}", f"2020-01-{day + 1:02d}T0{topic}:00:00+00:00", words))
            if day:  # yesterday's topic followed up today
                old = f"topic{day - 1}x{topic} alpha{day - 1}x{topic} beta{day - 1}x{topic} gamma{day - 1}x{topic}"
                profiles.append(_made_up(f"d{day:02d}f{topic}", f"2020-01-{day + 1:02d}T1{topic}:00:00+00:00", old))
    df = _frequencies(profiles)
    whole = StoryIndex().assign_all(profiles, df)
    index = StoryIndex()
    yielded, live = [], []
    for story in index.assign_closing(profiles, df):
        yielded.append(story)
        live.append(len(index.stories))
    assert {m: s.story_id for s in yielded for m in s.members} == whole
    assert len({s.story_id for s in yielded}) == len(yielded) == len(set(whole.values())) == 30
    assert whole["d01f0"] == "d00t0" and whole["d00t1"] != whole["d00t0"]
    assert max(live) <= 5 * 3  # the stories of the window (72 h after their last article), never the thirty


def test_stems_are_right_when_threads_stem_at_once():
    """Beam runs bundles in several threads of one worker; one shared Snowball stemmer then
    garbles words (IndexError, or a wrong stem that the cache keeps)."""
    import threading

    import snowballstemmer
    from wordfreq import get_frequency_dict

    from transforms._stories import clear_caches

    numbers = set("zero one two three four five six seven eight nine ten eleven twelve".split())  # become digits
    words = [w for w in list(get_frequency_dict("en", wordlist="best"))[:20000] if w.isalpha() and w not in numbers]
    expected = {w: snowballstemmer.stemmer("english").stemWord(w) for w in words}
    clear_caches()
    results: list[dict] = []
    errors: list[str] = []

    def stem_all(offset: int) -> None:
        try:
            order = words[offset:] + words[:offset]
            results.append({w: stems(w) for w in order})
        except Exception as exc:  # noqa: BLE001 (any error is the finding)
            errors.append(repr(exc))

    threads = [threading.Thread(target=stem_all, args=(k * 5000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 4
    for result in results:
        assert {w: next(iter(c)) for w, c in result.items()} == expected


def test_two_reports_alone_match_on_the_background_idf():
    """A run of just the two seed reports: counted alone, every word they share weighs
    log(2/2) = 0 and they cannot match; with English word frequencies as the background of a
    small run, they share a story (and the snow report, added alone, does not join it)."""
    articles = {name: extract_article(page(path)) for name, path in DEMO.items()}
    profiles = [profile(a.article_id, "2020-01-07T10:00:00+00:00", a.source, a.title, a.text)
                for a in (articles["iranpress"], articles["observer"])]
    plain = DocumentFrequencies(background=0)
    for p in profiles:
        plain.add(p.terms)
    story = StoryIndex().assign_all(profiles, plain)
    assert len(set(story.values())) == 2
    story = StoryIndex().assign_all(profiles, _frequencies(profiles))
    assert len(set(story.values())) == 1
    snow = articles["snow"]
    alone = profile(snow.article_id, "2020-01-07T11:00:00+00:00", snow.source, snow.title, snow.text)
    story = StoryIndex().assign_all([*profiles, alone], _frequencies([*profiles, alone]))
    assert story[snow.article_id] == snow.article_id and len(set(story.values())) == 2


def _unit(*xs: float):
    import numpy as np

    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_embeddings_decide_with_the_words_when_article_and_story_both_have_them():
    """The same words join without vectors; with vectors the mixed score decides: the same
    direction joins, orthogonal vectors (a different event told in shared words) do not."""
    import numpy as np

    words = "khamis shamkhani tehran syria delegation security council meeting"
    first = _made_up("a", "2020-01-07T08:00:00+00:00", words + " minister")
    later = _made_up("b", "2020-01-07T12:00:00+00:00", "khamis shamkhani tehran syria army border trade oil")
    other = _made_up("z", "2020-01-07T09:00:00+00:00", "snow roads closed drivers ice")
    df = _frequencies([first, later, other])
    words_alone = StoryIndex().assign_all([first, later, other], df)
    assert words_alone["b"] == "a"
    config = StoryConfig()
    for b_vector, joins in ((_unit(1, 0, 0), True), (_unit(0, 1, 0), False), (_unit(1, 1, 0), True)):
        index = StoryIndex(config)
        index.assign(first._replace(vector=_unit(1, 0, 0)), df)
        story_id, score = index.assign(later._replace(vector=b_vector), df)
        assert (story_id == "a") is joins, (b_vector, score)
        if joins:  # the story's vector is the sum of its members' unit vectors
            assert np.allclose(index.stories["a"].vector, _unit(1, 0, 0) + b_vector)
            assert np.allclose(index.stories["a"].leader_vector, _unit(1, 0, 0))
    # A mixed score below vector_threshold never joins, however close the words:
    word_cosine = StoryIndex(config)
    word_cosine.assign(first, df)
    _, words_score = word_cosine.assign(later, df)
    index = StoryIndex(config._replace(vector_threshold=min(1.0, 0.5 * (1 + words_score) + 0.01)))
    index.assign(first._replace(vector=_unit(1, 0, 0)), df)
    assert index.assign(later._replace(vector=_unit(1, 0, 0)), df)[0] == "b"


def test_vectors_survive_the_state_table_and_a_story_without_them_is_scored_by_words():
    """A story's vectors go through a real state Parquet table and back (schema 1.2.0); a
    story stored by a run without embeddings (null vectors) is still joined by words, at the
    word threshold, by an article that has a vector."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas.elements import StoryState
    from schemas.tables import STORY_STATE_SCHEMA, to_table
    from transforms._stories import Story
    from transforms.state import _to_row

    words = "khamis shamkhani tehran syria delegation security council meeting"
    profiles = [_made_up("a", "2020-01-07T08:00:00+00:00", words + " minister"),
                _made_up("b", "2020-01-07T09:00:00+00:00", words),
                _made_up("c", "2020-01-07T12:00:00+00:00", words + " talks")]
    df = _frequencies(profiles)
    index = StoryIndex()
    index.assign(profiles[0]._replace(vector=_unit(1, 2, 0)), df)
    index.assign(profiles[1]._replace(vector=_unit(1, 0, 0)), df)
    stored = index.stories["a"].to_state("2020-01-07T10:00:00+00:00")
    sink = pa.BufferOutputStream()
    pq.write_table(to_table([stored], "run-1", STORY_STATE_SCHEMA), sink)
    record = pq.read_table(pa.BufferReader(sink.getvalue())).to_pylist()[0]
    back = Story.from_state(_to_row(record, StoryState))
    assert np.allclose(back.vector, _unit(1, 2, 0) + _unit(1, 0, 0), atol=1e-6)
    assert np.allclose(back.leader_vector, _unit(1, 2, 0), atol=1e-6)
    assert back.members == ["a", "b"]

    old = Story.from_state(stored._replace(vector=None, leader_vector=None))
    assert not old.embedded
    later = StoryIndex(stories=[old])
    later.reindex(df)
    # orthogonal to everything stored: it would not join on vectors, but the old story has none
    assert later.assign(profiles[2]._replace(vector=_unit(0, 0, 1)), df)[0] == "a"
    # and it stays without vectors: one member's vector is no centroid of the story
    assert later.stories["a"].vector is None and later.stories["a"].leader_vector is None
    assert later.stories["a"].to_state("2020-01-07T13:00:00+00:00").vector is None


def test_stems_are_snowballs_english_stems_whichever_backend_runs_them():
    """snowballstemmer runs PyStemmer's C code when it is installed (a requirement, and
    faster); its stems must be the pure-Python algorithm's, or stories would change with it."""
    from snowballstemmer.english_stemmer import EnglishStemmer
    from wordfreq import get_frequency_dict

    from transforms._stories import clear_caches

    numbers = set("zero one two three four five six seven eight nine ten eleven twelve".split())
    words = [w for w in list(get_frequency_dict("en", wordlist="best"))[:30000] if w.isalpha() and w not in numbers]
    reference = EnglishStemmer()
    clear_caches()
    assert {w: next(iter(stems(w))) for w in words} == {w: reference.stemWord(w) for w in words}


def _assign_by_scoring_every_candidate(index: StoryIndex, p: StoryProfile, df: DocumentFrequencies):
    """The rule of ``StoryIndex.assign`` written plainly: both cosines of every candidate,
    weighted afresh, the largest margin wins (ties: smaller story id)."""
    from transforms._stories import Story, Weighted, vector_cosine

    config, mine = index.config, Weighted.of(p.terms, df)
    scored = []
    for story in index.candidates(p, df):
        centroid = mine.cosine(Weighted.of(story.terms, df))
        leader = mine.cosine(Weighted.of(story.leader, df))
        threshold = config.threshold
        if p.vector is not None and story.embedded:
            w, threshold = config.vector_weight, config.vector_threshold
            centroid = w * vector_cosine(p.vector, story.vector) + (1 - w) * centroid
            leader = w * vector_cosine(p.vector, story.leader_vector) + (1 - w) * leader
        scored.append((min(centroid, leader) - threshold, story.story_id, min(centroid, leader)))
    joinable = [s for s in scored if s[0] >= 0]
    if joinable:
        _, story_id, score = min(joinable, key=lambda s: (-s[0], s[1]))  # ties: the smaller id
        story = index.stories[story_id]
    else:
        story, score = Story(p.article_id, p.published, p.published, 0, Counter(), p.title, Counter(),
                             dict(p.terms)), 0.0
        index.stories[story.story_id] = story
    story.add(p, config.centroid_terms)
    index._index(story, df)
    return story.story_id, score


@pytest.mark.parametrize("with_vectors", [False, True])
def test_the_index_assigns_as_scoring_every_candidate_in_full_would(with_vectors):
    """The index skips a candidate's centroid when its first article already rules it out,
    reuses a new story's weights from its article and scores only shared words: none of it
    may change a story or a score. 600 made-up articles from 40 overlapping topics over 10
    days (some longer than ``centroid_terms``), against the plain rule above."""
    import random

    import numpy as np

    rng = random.Random(7)
    general = [f"w{i}" for i in range(300)]
    topics = [[f"t{t}x{i}" for i in range(12)] + rng.sample(general, 20) for t in range(40)]
    directions = np.random.default_rng(7).normal(size=(40, 8))
    profiles = []
    for i in range(600):
        topic = rng.randrange(40)
        words = rng.choices(topics[topic], k=rng.randint(5, 25)) + rng.choices(general, k=rng.randint(10, 60))
        if i % 50 == 0:
            words += [f"long{i}x{k}" for k in range(60)]
        vector = None
        if with_vectors:
            v = directions[topic] + np.random.default_rng(i).normal(scale=0.8, size=8)
            vector = v / np.linalg.norm(v)
        profiles.append(StoryProfile(f"a{i:04d}", f"2020-01-{1 + i // 60:02d}T{i % 24:02d}:00:00+00:00",
                                     f"outlet{i % 7}", None, dict(Counter(words)), (), vector))
    df = _frequencies(profiles)
    config = StoryConfig(centroid_terms=50)
    fast, plain = StoryIndex(config), StoryIndex(config)
    ordered = sorted(profiles, key=lambda p: (p.published, p.article_id))
    got = [fast.assign(p, df) for p in ordered]
    expected = [_assign_by_scoring_every_candidate(plain, p, df) for p in ordered]
    assert [story_id for story_id, _ in got] == [story_id for story_id, _ in expected]
    assert [score for _, score in got] == pytest.approx([score for _, score in expected], abs=1e-12)
    joined = sum(1 for p, (story_id, _) in zip(ordered, got) if story_id != p.article_id)
    assert 100 < joined < 500  # the made-up topics make stories, and not one of everything


def test_a_title_the_text_already_begins_with_is_counted_once():
    """Extractors often keep the headline as the text's first line (every demo page): the
    profile and the embedded text hold it once; a title the text does not begin with is
    added to it."""
    from transforms._stories import titled_text

    snow = extract_article(page(DEMO["snow"]))
    assert snow.text.startswith(snow.title)
    assert titled_text(snow.title, snow.text) == snow.text
    once = profile("s", "2020-01-07T10:00:00+00:00", snow.source, snow.title, snow.text).terms
    assert once == dict(stems(snow.text))
    other = profile("s", "2020-01-07T10:00:00+00:00", snow.source, "Avalanche warning", snow.text).terms
    assert other == dict(stems(snow.text) + stems("Avalanche warning"))
    # Spacing and case do not hide the repeat; a title longer than the text's start does not match.
    assert titled_text("Heavy  SNOW closes", "heavy snow closes roads") == "heavy snow closes roads"
    longer = "Heavy snow closes roads today"
    assert titled_text(longer, "Heavy snow closes") == f"{longer}\nHeavy snow closes"


def test_the_embedded_text_holds_the_title_once():
    from transforms.embed_articles import embedding_text

    snow = extract_article(page(DEMO["snow"]))
    assert embedding_text(snow) == snow.text
    assert embedding_text(snow._replace(title="Avalanche warning")) == f"Avalanche warning\n{snow.text}"


# Two made-up Portuguese reports on unrelated things (a bakery, a football match): what
# they share is Portuguese function words, which a mostly English run sees in them alone.
BAKERY = ("A padaria da família Sousa, que abriu as portas em Alfama no mês de maio, vende agora "
          "o pão de centeio que a avó fazia para os vizinhos. Não há uma manhã em que a fila não "
          "chegue à esquina, e os donos dizem que foi por isso que contrataram mais dois padeiros "
          "para o turno da noite.")
MATCH = ("O jogo de sábado no Dragão terminou com uma vitória do Porto por três golos a um, "
         "que deixa a equipa a dois pontos do primeiro lugar. Não foi uma noite fácil para os "
         "adeptos: o árbitro anulou um golo aos visitantes no fim da primeira parte, e o treinador "
         "disse que a equipa ainda tem muito para melhorar em casa.")


def test_stop_words_are_left_out_of_profiles_in_other_languages_than_english():
    assert {"de", "que", "não", "uma", "para"} <= stop_words("pt-BR") == stop_words("pt_br") == stop_words("PT")
    assert stop_words("en") == stop_words("en-GB") == ENGLISH_VOICE and not stop_words(None)
    assert not {"the", "and", "of", "he", "she", "they"} & stop_words("en")  # IDF weighs those down
    assert not stop_words("xx") and not stop_words("../x")  # no list, no import of a made-up module
    assert "que" in stems(BAKERY) and "que" not in stems(BAKERY, "pt")
    assert "padaria" in stems(BAKERY, "pt") and "the" in stems("the bakery", "en")


def test_unrelated_articles_in_a_minority_language_do_not_share_a_story_by_its_function_words():
    english = [extract_article(page(path)) for path in DEMO.values()]

    def grouped(language):
        profiles = [profile(a.article_id, "2020-01-07T10:00:00+00:00", a.source, a.title, a.text, language="en")
                    for a in english]
        profiles += [profile(name, "2020-01-07T11:00:00+00:00", name, None, text, language=language)
                     for name, text in (("bakery", BAKERY), ("match", MATCH))]
        return StoryIndex().assign_all(profiles, _frequencies(profiles))

    assert grouped(None)["match"] == "bakery"  # without the stop words: one story
    story = grouped("pt")
    assert story["match"] != story["bakery"]
    seed = [story[a.article_id] for a in english[:2]]
    assert seed[0] == seed[1]  # the English seed reports are still one story


# Two made-up first-person columns on unrelated things (learning to bake bread, a morning
# run): what they share is their voice, "I", "my", "me", "we", "you".
BREAD = ("I never thought I would be the kind of person who bakes my own bread. My mother baked "
         "every Sunday and I watched her, but I was sure it was beyond me. Then my neighbour left "
         "me a jar of sourdough starter, and we have been inseparable ever since. You learn "
         "patience, my friends: I fed it, I waited, I burned my first three loaves, and my kitchen "
         "smelled of smoke for a week. If you try it, be kinder to yourself than I was to myself.")
RUN = ("My alarm goes off at five and I lie there for a minute telling myself I can skip it. I "
       "never do. My shoes are by the door, my headphones in my pocket, and by the time I reach "
       "the river my legs have stopped arguing with me. We runners are a strange tribe: you nod "
       "at the same faces every morning and never learn their names. If you asked me why I do "
       "it, I would tell you that the city is mine for an hour, and that I need that hour.")


def test_unrelated_first_person_columns_do_not_share_a_story_by_their_pronouns():
    import random

    from spacy.lang.en.stop_words import STOP_WORDS

    english = [extract_article(page(path)) for path in DEMO.values()]
    # A run of news around them: 120 made-up third-person reports, each with half of English's
    # function words (not the pronouns) and 40 words of the demo's reports. IDF is then the
    # run's own (over 100 documents), and the pronouns are in the two columns alone.
    rng = random.Random(1)
    function = sorted(w for w in STOP_WORDS if w not in ENGLISH_VOICE and w.isalpha())
    news = sorted({w for a in english for w in stems(a.text)})
    reports = [_made_up(f"report{i}", "2020-01-06T10:00:00+00:00",
                        " ".join(rng.sample(function, len(function) // 2) + rng.sample(news, 40)))
               for i in range(120)]

    def grouped(language):
        profiles = [profile(a.article_id, "2020-01-07T10:00:00+00:00", a.source, a.title, a.text, language="en")
                    for a in english]
        profiles += [profile(name, "2020-01-07T11:00:00+00:00", name, None, text, language=language)
                     for name, text in (("bread", BREAD), ("run", RUN))]
        return StoryIndex().assign_all(profiles, _frequencies(profiles + reports))

    assert grouped(None)["run"] == "bread"  # with the pronouns (no language): one story
    story = grouped("en")
    assert story["run"] != story["bread"]
    seed = [story[a.article_id] for a in english[:2]]
    assert seed[0] == seed[1]  # the seed reports are still one story


# Two made-up Hindi reports on unrelated things (New Year traffic in Delhi, a wheat harvest
# in Punjab). Hindi writes its vowels and viramas as combining marks, which ``\w`` does not
# match: cut there, every Hindi text is made of the same few consonant fragments.
METRO = ("नए साल के जश्न में दिल्ली की सड़कों पर भारी जाम लगा और कई मेट्रो स्टेशन रात भर बंद रहे। "
         "पुलिस ने लोगों से घर पर रहने की अपील की और कहा कि सुबह तक यातायात सामान्य हो जाएगा।")
HARVEST = ("पंजाब के किसानों ने इस बार गेहूं की अच्छी फसल काटी है। मंडी में दाम बढ़ने से गांवों में "
           "खुशी है और सरकार ने खरीद के लिए नए केंद्र खोले हैं, जहां किसान अपनी उपज बेच सकते हैं।")


def test_words_of_scripts_written_with_combining_marks_stay_whole():
    words = stems(METRO, "hi")
    assert {"दिल्ली", "सड़कों", "मेट्रो", "जश्न"} <= set(words)
    assert not {"के", "में", "की", "और"} & set(words)  # Hindi stop words match whole words only
    assert all(len(w) > 1 for w in words)  # no lone consonants left of a cut word
    # English (and precomposed Latin) splits as before.
    assert stems("Café owners' don't-stop e-mail 2020") == Counter(
        {"café": 1, "owner": 1, "don": 1, "t": 1, "stop": 1, "e": 1, "mail": 1, "2020": 1})


def test_unrelated_hindi_articles_do_not_share_a_story_by_word_fragments():
    english = [extract_article(page(path)) for path in DEMO.values()]
    profiles = [profile(a.article_id, "2020-01-07T10:00:00+00:00", a.source, a.title, a.text, language="en")
                for a in english]
    profiles += [profile(name, "2020-01-07T11:00:00+00:00", name, None, text, language="hi")
                 for name, text in (("metro", METRO), ("harvest", HARVEST))]
    df = _frequencies(profiles)
    story = StoryIndex().assign_all(profiles, df)
    assert story["metro"] != story["harvest"]
    # Cut into fragments, the two scored 0.68 (and shared a story, stop words or not).
    assert Weighted.of(profiles[-1].terms, df).cosine(Weighted.of(profiles[-2].terms, df)) < 0.1


def _demo_stories():
    """The demo's four articles grouped (the seed reports: one story), and their IDF."""
    articles = {name: extract_article(page(path)) for name, path in DEMO.items()}
    profiles = [profile(a.article_id, "2020-01-07T10:00:00+00:00", a.source, a.title, a.text)
                for a in articles.values()]
    df = _frequencies(profiles)
    index = StoryIndex()
    closed = list(index.assign_closing(profiles, df))
    return articles, closed, df


def _headline(key: str, title: str, published: str = "2020-01-07T12:00:00+00:00", text: str = ""):
    return key, profile(key, published, "walled", title, text)


def test_a_headline_joins_the_story_it_scores_best_against_and_changes_none():
    articles, closed, df = _demo_stories()
    before = [(s.story_id, list(s.members), dict(s.terms)) for s in closed]
    matcher = HeadlineMatcher(StoryConfig(), df, [
        _headline("meeting", "Syrian delegation discusses cooperation, coordination with Tehran officials"),
        _headline("snow", "Heavy snow closes mountain roads and delays flights"),
        _headline("unrelated", "Football club signs goalkeeper on a three-year contract"),
        # a too short text: its words count too
        _headline("brief", "Council vote", text="The council approved the tram line to the northern districts."),
        # the seed reports' headline, three weeks later: no story is live then
        _headline("late", "Syrian delegation discusses cooperation, coordination with Tehran officials",
                  "2020-01-30T12:00:00+00:00"),
    ])
    for story in closed:
        matcher.offer(story)
    seeds = {s.story_id for s in closed if articles["iranpress"].article_id in s.members}
    assert articles["observer"].article_id in next(s for s in closed if s.story_id in seeds).members
    story_of = {name: next(s.story_id for s in closed if a.article_id in s.members) for name, a in articles.items()}
    assert matcher.matches() == {"meeting": story_of["iranpress"], "snow": story_of["snow"],
                                 "brief": story_of["tram"]}
    assert [(s.story_id, list(s.members), dict(s.terms)) for s in closed] == before


def test_headline_candidates_per_story_are_bounded():
    articles, closed, df = _demo_stories()
    title = "Syrian delegation discusses cooperation, coordination with Tehran officials"
    many = [_headline(f"h{n}", title, f"2020-01-07T{n % 24:02d}:00:00+00:00") for n in range(60)]
    matcher = HeadlineMatcher(StoryConfig(max_postings=5), df, many)
    seed_story = next(s for s in closed if articles["iranpress"].article_id in s.members)
    matcher.offer(seed_story)
    # each of the story's distinctive words brings at most 5 headlines, the nearest in time
    # (the same 5 for every word here: all 60 have the same words); without the cap, 60
    assert matcher.compared == 5
    assert len(matcher.matches()) == matcher.compared
    assert len(HeadlineMatcher(StoryConfig(), df, many).matches()) == 0  # nothing offered, nothing joined
