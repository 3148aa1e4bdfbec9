"""TagEntities: Article -> Article with ``entities``; failures -> Failure(stage="entities").

Named entities come from a spaCy pipeline run through Beam's ``RunInference`` with
``SpacyModelHandler``: the model is loaded once per worker process (``load_model``),
reduced to the components NER needs, and fed batches through ``nlp.pipe``. A batch that
fails does not lose its articles: they continue with ``entities`` null and a warning row.

Articles in a language the model does not cover (``Article.language`` against the
pipeline's ``lang``; ``xx`` models cover all) get no entities and are counted as
``entities.skipped_language``.

The ``key`` of an entity names the real-world name it refers to, the same across
spellings and articles ("Walid al-Moallem" and "Walid Al Muallem", "Khamis" and "Imad
Khamis" in one article): the algorithm is in ``transforms._entity_keys``.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics

from schemas.elements import WARNING, Article, Entity, Failure
from transforms import _progress as progress
from transforms._entity_keys import Mention, Resolution, article_keys, name_key, resolution, resolve
from transforms._inference import ModelHandler, PredictionResult, RunInference, failed_inference
from transforms._joins import WithWindowValue
from transforms._ner_process import TaggerProcess
from transforms._spacy import DEFAULT_MODEL, load_ner_pipeline, mentions_of
from transforms._timing import busy, busy_counter

__all__ = ["TagEntities", "SpacyModelHandler", "entity_key", "load_ner_pipeline", "mentions_of", "DEFAULT_MODEL"]

STAGE = "entities"


def entity_key(text: str, label: str) -> str:
    """The key of a mention taken alone (see ``transforms._entity_keys``)."""
    return name_key(text, label)


def covers(model_lang: str, article_lang: Optional[str]) -> bool:
    """Whether a model of ``model_lang`` should tag an article in ``article_lang`` (unknown: yes)."""
    return model_lang == "xx" or not article_lang or article_lang.split("-")[0].lower() == model_lang


def chunks(text: str, limit: int) -> list[tuple[int, str]]:
    """``text`` cut into pieces of at most ``limit`` characters, as (offset, piece).

    Cuts fall at the last paragraph break before the limit, else the last line break, else
    the last sentence end, else the last space, so a name is never cut in two unless a
    whole ``limit``-character stretch has no space at all.
    """
    out, start = [], 0
    while len(text) - start > limit:
        window = text[start:start + limit]
        cut = next((i + len(sep) for sep in ("\n\n", "\n", ". ", " ") if (i := window.rfind(sep)) > limit // 2),
                   limit)
        out.append((start, window[:cut]))
        start += cut
    out.append((start, text[start:]))
    return out


def entities_of(mentions: list[Mention]) -> list[Entity]:
    """The mentions of one article with their article-level keys."""
    return [Entity(m.text, m.label, m.start, m.end, key) for m, key in zip(mentions, article_keys(mentions))]


class SpacyModelHandler(ModelHandler[Article, PredictionResult, Any]):
    """RunInference handler: a batch of Articles -> PredictionResult(article, [Entity]).

    Args:
        model_name: an installed spaCy package name or a path to a pipeline directory.
        batch_size: ``nlp.pipe`` batch size.
        min_batch_size / max_batch_size: how Beam batches articles before inference.
        chunk_chars: the longest piece of text given to the model at once; longer articles
            are tagged piece by piece (cut at paragraph, line or sentence breaks) and their
            entities joined with offsets into the whole text.
    """

    def __init__(self, model_name: str = DEFAULT_MODEL, batch_size: int = 64,
                 min_batch_size: int = 32, max_batch_size: int = 256, chunk_chars: int = 100_000,
                 own_process: bool = True):
        self._model_name = model_name
        self._own_process = own_process
        self._batch_size = batch_size
        self._chunk_chars = chunk_chars
        self._batching = {"min_batch_size": min_batch_size, "max_batch_size": max_batch_size}

    def load_model(self) -> Any:
        if self._own_process:
            return TaggerProcess(self._model_name)
        return load_ner_pipeline(self._model_name)

    def run_inference(self, batch: Sequence[Article], model: Any,
                      inference_args: Optional[dict] = None) -> Iterable[PredictionResult]:
        # Language gate: an article in a language the model does not cover gets no entities
        # (counted), rather than nonsense; "xx" models cover every language.
        covered = [a for a in batch if covers(model.lang, a.language)]
        skipped = len(batch) - len(covered)
        if skipped:
            Metrics.counter(STAGE, "skipped_language").inc(skipped)
        # Long articles are tagged whole, piece by piece: each piece is at most chunk_chars
        # long, so the memory of one Doc stays bounded whatever the article's length.
        pieces = [(i, offset, piece) for i, article in enumerate(covered)
                  for offset, piece in chunks(article.text, self._chunk_chars)]
        split = sum(1 for article in covered if len(article.text) > self._chunk_chars)
        if split:
            Metrics.counter(STAGE, "long_articles_split").inc(split)
        mentions: list[list[Mention]] = [[] for _ in covered]
        texts = [piece for _, _, piece in pieces]
        with busy(busy_counter(STAGE)):
            if isinstance(model, TaggerProcess):
                per_piece = model.tag(texts, self._batch_size)
            else:
                model.max_length = max(model.max_length, self._chunk_chars + 1)
                per_piece = [mentions_of(doc) for doc in model.pipe(texts, batch_size=self._batch_size)]
        for (i, offset, _), found in zip(pieces, per_piece):  # offsets into the whole text
            mentions[i].extend(m._replace(start=m.start + offset, end=m.end + offset) for m in found)
        found = {id(a): entities_of(m) for a, m in zip(covered, mentions)}
        return [PredictionResult(article, found.get(id(article), []), self._model_name) for article in batch]

    def get_num_bytes(self, batch: Sequence[Article]) -> int:
        return sum(len(article.text) for article in batch)

    def batch_elements_kwargs(self) -> dict:
        return self._batching

    def get_metrics_namespace(self) -> str:
        return "entities_inference"


class _AttachEntitiesFn(beam.DoFn):
    def __init__(self) -> None:
        self._emitted = progress.counter(STAGE, "emitted")
        self._mentions = Metrics.distribution(STAGE, "entities_per_article")

    def process(self, result: PredictionResult) -> Iterator[Article]:
        self._emitted.inc()
        self._mentions.update(len(result.inference))
        yield result.example._replace(entities=list(result.inference))


class _UntaggedFn(beam.DoFn):
    """A failed batch: its articles go on without entities, each with a warning row."""

    FAILED = "failed"

    def __init__(self) -> None:
        self._failed = Metrics.counter(STAGE, "failed")

    def process(self, failed: tuple[Sequence[Article], Any]) -> Iterator[Article]:
        batch, exc = failed
        error, detail = failed_inference(exc)
        for article in batch:
            self._failed.inc()
            yield article
            yield beam.pvalue.TaggedOutput(
                self.FAILED,
                Failure.of(STAGE, article.url, error, detail=detail, feed_url=article.feed_url,
                           severity=WARNING),
            )


class _PersonNamesFn(beam.CombineFn):
    """Articles' PERSON mention texts -> the set of them (combined on each worker first)."""

    def create_accumulator(self) -> set:
        return set()

    def add_input(self, names: set, article: Article) -> set:
        names.update(e.text for e in article.entities or () if e.label == "PERSON")
        return names

    def merge_accumulators(self, accumulators: Iterable[set]) -> set:
        return set().union(*accumulators)

    def extract_output(self, names: set) -> Resolution:
        return resolution(names)


def _resolve_keys(article: Article, decided: Resolution) -> Article:
    if not article.entities:
        return article
    return article._replace(entities=resolve(article.entities, decided))


class TagEntities(beam.PTransform):
    """Tags entities; outputs ``articles`` (Article) and ``failed`` (Failure warnings).

    Keys are decided per article in the model handler, then across the whole run (rules
    5-8 of ``transforms._entity_keys``): the PERSON names of all articles are combined into
    one ``Resolution`` (a small side input), so the keys do not depend on how a runner
    bundles or batches the articles.

    Args:
        handler: the spaCy model handler (model name and batching).
        keyed_joins: join the resolution to the articles by key, not as a side input
            (streams; see ``transforms._joins``).
    """

    def __init__(self, handler: SpacyModelHandler, keyed_joins: bool = False):
        super().__init__()
        self._handler = handler
        self._keyed_joins = keyed_joins

    def expand(self, articles):
        # Spread the articles evenly first: a local runner splits a stage's input between
        # its workers by the chunks the stage before wrote, so one worker could be left
        # with most of the NER (3 s of one idle core in 31 s on 1,000 articles); a
        # grouped input is dealt out key by key.
        tagged, dlq = (
            articles
            | "SpreadOverWorkers" >> beam.Reshuffle()
            | "RunNer" >> RunInference(self._handler).with_exception_handling()
        )
        ok = tagged | "AttachEntities" >> beam.ParDo(_AttachEntitiesFn())
        untagged = dlq.failed_inferences | "KeepUntagged" >> beam.ParDo(_UntaggedFn()).with_outputs(
            _UntaggedFn.FAILED, main="articles"
        )
        merged = (ok, untagged.articles) | "MergeTagged" >> beam.Flatten()
        # Per window in a stream: keys are decided across the articles of one window.
        decided = merged | "ResolveNamesOfRun" >> beam.CombineGlobally(_PersonNamesFn()).without_defaults()
        keyed = merged | "KeyAcrossArticles" >> WithWindowValue(
            _resolve_keys, decided, resolution(()), keyed=self._keyed_joins, output_type=Article)
        return {"articles": keyed, "failed": untagged.failed}
