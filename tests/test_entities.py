"""TagEntities through RunInference, with a small blank spaCy pipeline + entity ruler."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import pinned_options
from samples_util import article

from transforms.tag_entities import SpacyModelHandler, TagEntities, entity_key, load_ner_pipeline

spacy = pytest.importorskip("spacy")

PATTERNS = [
    {"label": "PERSON", "pattern": "Imad Khamis"},
    {"label": "PERSON", "pattern": "Walid al-Moallem"},
    {"label": "GPE", "pattern": "Tehran"},
    {"label": "PERSON", "pattern": "Khamis"},
]


@pytest.fixture(scope="module")
def ruler_model(tmp_path_factory):
    """A blank English pipeline with an entity ruler, saved to disk: loaded by path."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(PATTERNS)
    nlp.add_pipe("sentencizer")  # not needed for NER: load_ner_pipeline must drop it
    path = tmp_path_factory.mktemp("model") / "ruler"
    nlp.to_disk(path)
    return str(path)


def test_entity_key_folds_case_diacritics_and_punctuation():
    assert entity_key("Walid al-Moallem", "PERSON") == entity_key("WALID AL MOALLEM", "PERSON")
    assert entity_key("Ḥasan Rūḥānī", "PERSON") == entity_key("Hasan Rouhani", "PERSON")
    assert entity_key("Ḥasan Rūḥānī", "PERSON").startswith("PERSON:hasan ")
    assert entity_key("Tehran", "GPE") != entity_key("Tehran", "ORG")


def test_loader_keeps_only_what_ner_needs(ruler_model):
    nlp = load_ner_pipeline(ruler_model)
    assert nlp.pipe_names == ["entity_ruler"]


def test_default_model_loads_reduced_to_ner():
    nlp = load_ner_pipeline("en_core_web_sm")
    assert "ner" in nlp.pipe_names and "parser" not in nlp.pipe_names and "tagger" not in nlp.pipe_names


def test_handler_returns_offsets_into_the_text(ruler_model):
    handler = SpacyModelHandler(ruler_model)
    text = "In Tehran, Imad Khamis met Walid al-Moallem."
    [result] = handler.run_inference([article("http://a/1", text, None)], handler.load_model())
    assert [(e.text, e.label) for e in result.inference] == [
        ("Tehran", "GPE"), ("Imad Khamis", "PERSON"), ("Walid al-Moallem", "PERSON")]
    assert all(text[e.start:e.end] == e.text for e in result.inference)


def test_tag_entities_composite(ruler_model):
    docs = [article("http://a/1", "Imad Khamis arrived in Tehran.", None),
            article("http://a/2", "Nothing to see here.", None)]
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | beam.Create(docs) | TagEntities(SpacyModelHandler(ruler_model, min_batch_size=1))
        assert_that(out["articles"] | beam.Map(lambda a: (a.url, [e.key for e in a.entities])),
                    equal_to([("http://a/1", [entity_key("Imad Khamis", "PERSON"), entity_key("Tehran", "GPE")]),
                              ("http://a/2", [])]))
        assert_that(out["failed"], equal_to([]), label="NoFailures")


class _BrokenHandler(SpacyModelHandler):
    def run_inference(self, batch, model, inference_args=None):
        raise RuntimeError("model crashed")


def test_a_failed_batch_keeps_its_articles_untagged_with_a_warning(ruler_model):
    docs = [article("http://a/1", "Imad Khamis arrived in Tehran.", None)]
    with test_pipeline.TestPipeline(options=pinned_options()) as p:
        out = p | beam.Create(docs) | TagEntities(_BrokenHandler(ruler_model, min_batch_size=1))
        assert_that(out["articles"] | beam.Map(lambda a: (a.url, a.entities)), equal_to([("http://a/1", None)]))
        assert_that(out["failed"] | beam.Map(lambda f: (f.stage, f.error, f.severity)),
                    equal_to([("entities", "RuntimeError", "warning")]), label="Warned")


@pytest.mark.parametrize("a,b", [
    ("Walid Al Muallem", "Walid al-Moallem"), ("Walid Muallem", "Walid al-Moallem"),
    ("Qasem Soleimani", "Qassem Soleimani"), ("Imad Mohammad Deeb Khamis", "Imad Khamis"),
    ("Ali Ayoub", "Ali Abdullah Ayyoub"), ("José Ramírez", "Jose Ramirez"),
])
def test_spelling_variants_share_a_key(a, b):
    assert entity_key(a, "PERSON") == entity_key(b, "PERSON")


@pytest.mark.parametrize("a,b", [("Ali Ayoub", "Ali Shamkhani"), ("Imad Khamis", "Imad Hassan"),
                                 ("Hassan Rouhani", "Hussein Rouhani")])
def test_different_people_keep_different_keys(a, b):
    assert entity_key(a, "PERSON") != entity_key(b, "PERSON")


def test_within_an_article_a_short_mention_takes_the_unique_longer_name():
    from transforms._entity_keys import Mention, article_keys

    names = ["Imad Mohammad Deeb Khamis", "Khamis", "Ali Ayoub", "Ali Shamkhani", "Ali"]
    ms = [Mention(name, "PERSON", 0, 1) for name in names]
    khamis, ayoub, shamkhani, ali = (entity_key(n, "PERSON")
                                     for n in ("Imad Khamis", "Ali Ayoub", "Ali Shamkhani", "Ali"))
    assert article_keys(ms) == [khamis, khamis, ayoub, shamkhani, ali]  # "Ali" is ambiguous: left alone
    assert len({khamis, ayoub, shamkhani, ali}) == 4


def test_noise_is_cleaned_with_offsets():
    from transforms._entity_keys import Mention, clean

    text = "He met the United States's envoy and 2020 others."
    m = clean(Mention("the United States's", "GPE", 7, 26))
    assert (m.text, text[m.start:m.end]) == ("United States", "United States")
    assert clean(Mention("2020", "ORG", 37, 41)) is None
    assert clean(Mention("2020", "DATE", 37, 41)).text == "2020"


def test_language_gate_skips_articles_the_model_does_not_cover(ruler_model):
    from apache_beam.metrics.metric import MetricsFilter

    from transforms.tag_entities import covers

    assert covers("en", "en") and covers("en", None) and covers("xx", "de") and covers("en", "en-GB")
    assert not covers("en", "de")
    german = article("http://a/de", "Imad Khamis besuchte Tehran am Montag.", None)._replace(language="de")
    english = article("http://a/en", "Imad Khamis visited Tehran on Monday.", None)
    p = test_pipeline.TestPipeline(options=pinned_options())
    out = p | beam.Create([german, english]) | TagEntities(SpacyModelHandler(ruler_model, min_batch_size=1))
    assert_that(out["articles"] | beam.Map(lambda a: (a.url, len(a.entities))),
                equal_to([("http://a/de", 0), ("http://a/en", 2)]))
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("entities").with_name("skipped_language"))
    assert sum(c.committed for c in counters["counters"]) == 1


def test_middle_names_merge_only_without_a_conflict_in_the_batch():
    from schemas.elements import Entity
    from transforms._entity_keys import resolve_batch

    def person(text):
        return Entity(text, "PERSON", 0, len(text), entity_key(text, "PERSON"))

    batch = [[person("George W. Bush"), person("George Bush")], [person("George H. W. Bush")],
             [person("Imad Mohammad Deeb Khamis")], [person("Imad Khamis")]]
    keys = [[e.key for e in entities] for entities in resolve_batch(batch)]
    george, bush, khamis = entity_key("George", "PERSON")[7:], entity_key("Bush", "PERSON")[7:], entity_key(
        "Imad Khamis", "PERSON")
    assert keys == [[f"PERSON:{george} v {bush}", f"PERSON:{george} {bush}"], [f"PERSON:{george} h v {bush}"],
                    [khamis], [khamis]]


def _batch_keys(*names):
    """Each name as one article, all in one inference batch."""
    from schemas.elements import Entity
    from transforms._entity_keys import resolve_batch

    batch = [[Entity(n, "PERSON", 0, len(n), entity_key(n, "PERSON"))] for n in names]
    return [entities[0].key for entities in resolve_batch(batch)]


@pytest.mark.parametrize("a,b", [
    ("Gerhard Schröder", "Gerhard Schroeder"), ("Lech Wałęsa", "Lech Walesa"), ("Ali Khamenei", "Ali Khamene'i"),
    ("Vladimir Putin", "Wladimir Putin"), ("Mikhail Gorbachev", "Michail Gorbatschow"),
    ("Mohammed bin Salman", "Muhammad bin Salman"), ("Kim Jong-un", "Kim Jong Un"), ("Ban Ki-moon", "Ban Ki moon"),
    ("Donald J. Trump", "Donald John Trump"), ("Fidel Castro", "Fidel Castro Ruz"),
    ("Javad Zarif", "Mohammad Javad Zarif"), ("Abdelaziz Bouteflika", "Abd al-Aziz Bouteflika"),
    ("Donald Trump Jr.", "Donald Trump Junior"),
])
def test_spelling_variants_share_a_key_within_a_batch(a, b):
    first, second = _batch_keys(a, b)
    assert first == second


@pytest.mark.parametrize("a,b", [
    ("Kim Jong-un", "Kim Jong-il"), ("Li Qiang", "Li Keqiang"), ("Donald Trump", "Donald Trump Jr."),
    ("Ali Hassan", "Ali Hussein"), ("George W. Bush", "George H. W. Bush"), ("Lech Kaczyński", "Jarosław Kaczyński"),
    ("Abdel Fattah el-Sisi", "Abdel Fattah al-Burhan"), ("Ali Abdullah Saleh", "Ali Abdullah Ayyoub"),
])
def test_different_people_keep_different_keys_within_a_batch(a, b):
    first, second = _batch_keys(a, b)
    assert first != second


def test_a_name_extended_two_ways_absorbs_neither():
    jong, un, il = _batch_keys("Kim Jong", "Kim Jong Un Sung", "Kim Jong Il Sung")
    assert len({jong, un, il}) == 3


def test_chunks_cut_at_breaks_and_cover_the_text():
    from transforms.tag_entities import chunks

    text = "First paragraph here.\n\nSecond one, a bit longer than that.\nA line. And a sentence." * 7
    pieces = chunks(text, 60)
    assert "".join(piece for _, piece in pieces) == text
    assert all(text[offset:offset + len(piece)] == piece for offset, piece in pieces)
    assert all(len(piece) <= 60 for _, piece in pieces) and len(pieces) > 5
    assert all(piece.endswith(("\n", ". ", " ")) for _, piece in pieces[:-1])
    assert chunks("x" * 130, 60) == [(0, "x" * 60), (60, "x" * 60), (120, "x" * 10)]


def test_a_long_article_is_tagged_whole_piece_by_piece(ruler_model):
    from apache_beam.metrics.metric import MetricsFilter

    filler = "Nothing happened on this day in the capital.\n"
    text = "Imad Khamis arrived.\n" + filler * 400 + "Later Walid al-Moallem met Khamis in Tehran.\n"
    handler = SpacyModelHandler(ruler_model, min_batch_size=1, chunk_chars=1_000)
    p = test_pipeline.TestPipeline(options=pinned_options())
    out = p | beam.Create([article("http://a/long", text, None)]) | TagEntities(handler)
    assert_that(out["articles"] | beam.FlatMap(lambda a: [(e.text, e.label, a.text[e.start:e.end], e.key)
                                                          for e in a.entities]),
                equal_to([("Imad Khamis", "PERSON", "Imad Khamis", entity_key("Imad Khamis", "PERSON")),
                          ("Walid al-Moallem", "PERSON", "Walid al-Moallem", entity_key("Walid al-Moallem", "PERSON")),
                          # in another piece than "Imad Khamis", still resolved to him: keys are per article
                          ("Khamis", "PERSON", "Khamis", entity_key("Imad Khamis", "PERSON")),
                          ("Tehran", "GPE", "Tehran", entity_key("Tehran", "GPE"))]))
    result = p.run()
    result.wait_until_finish()
    split = result.metrics().query(MetricsFilter().with_namespace("entities").with_name("long_articles_split"))
    assert sum(c.committed for c in split["counters"]) == 1


def test_a_surname_alone_takes_the_one_full_name_of_the_batch_ending_with_it():
    jahangiri, eshaq, bush, george_w, george_hw = _batch_keys(
        "Jahangiri", "Eshaq Jahangiri", "Bush", "George W. Bush", "George H. W. Bush")
    assert jahangiri == eshaq
    assert bush not in (george_w, george_hw)  # two people of the batch are called Bush


def test_the_model_runs_on_numpys_blas_with_one_thread():
    """The default matrix library is numpy's (OpenBLAS), held to one thread per process:
    thinc's blis runs a generic kernel here (see NER_BLAS)."""
    from threadpoolctl import threadpool_info

    nlp = load_ner_pipeline("en_core_web_sm")
    ops = nlp.get_pipe("ner").model.ops
    assert type(ops).__name__ == "NumpyOps" and ops.use_blis is False
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)
    assert load_ner_pipeline("en_core_web_sm", blas="blis").get_pipe("ner").model.ops.use_blis is True
    with pytest.raises(ValueError, match="unknown BLAS"):
        load_ner_pipeline("en_core_web_sm", blas="mkl")


def test_numpys_blas_finds_the_entities_blis_finds():
    """Same model, two matrix libraries: the seed reports get the same mentions from both."""
    from conftest import SAMPLES

    texts = [p.read_text(encoding="utf-8") for p in sorted((SAMPLES / "seeds").glob("*.txt"))]
    assert len(texts) == 2

    def mentions(blas: str) -> list[list[tuple]]:
        nlp = load_ner_pipeline("en_core_web_sm", blas=blas)
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]

    found = mentions("numpy")
    assert sum(map(len, found)) > 20
    assert found == mentions("blis")


def test_ner_in_its_own_process_finds_what_ner_in_the_worker_finds(ruler_model):
    filler = "Nothing happened on this day in the capital.\n"
    texts = ["In Tehran, Imad Khamis met Walid al-Moallem.",
             "Imad Khamis arrived.\n" + filler * 60 + "Later Walid al-Moallem met Khamis in Tehran.\n",
             "Nothing to see here."]
    batch = [article(f"http://a/{i}", t, None) for i, t in enumerate(texts)]

    def tagged(own_process: bool):
        handler = SpacyModelHandler(ruler_model, chunk_chars=500, own_process=own_process)
        return [r.inference for r in handler.run_inference(batch, handler.load_model())]

    child = tagged(True)
    assert child == tagged(False)
    assert [len(found) for found in child] == [3, 4, 0]
    assert all(texts[1][e.start:e.end] == e.text for e in child[1])  # offsets into the whole text


def test_the_ner_process_ignores_ctrl_c_and_is_started_again_when_it_died(ruler_model):
    import signal

    from transforms._ner_process import TaggerProcess

    tagger = TaggerProcess(ruler_model)
    try:
        first = tagger._child.pid
        assert tagger.tag([], 8) == []  # a batch the language gate emptied
        tagger._child.send_signal(signal.SIGINT)  # the launcher, not the child, handles Ctrl-C
        assert [m.text for m in tagger.tag(["Imad Khamis in Tehran"], 8)[0]] == ["Imad Khamis", "Tehran"]
        assert tagger._child.pid == first
        tagger._child.kill()
        tagger._child.wait()
        assert [m.text for m in tagger.tag(["Walid al-Moallem"], 8)[0]] == ["Walid al-Moallem"]
        assert tagger._child.pid != first
    finally:
        tagger.close()
    assert tagger._child is None


def test_a_model_the_ner_process_cannot_load_is_an_error_naming_it(tmp_path):
    from transforms._ner_process import TaggerProcess

    with pytest.raises(RuntimeError, match="the NER process failed: .*no_such_model"):
        TaggerProcess(str(tmp_path / "no_such_model"))
