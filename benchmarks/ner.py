"""NER throughput: the TagEntities stage inside a pipeline against raw ``nlp.pipe``.

Texts are the 181 human-written article bodies of the extraction benchmark, repeated
``--copies`` times. Two variants, alternating, ``--repeats`` times each, in one process:

- ``raw``: ``load_ner_pipeline(model)`` (the same components the pipeline loads), then
  ``nlp.pipe(texts, batch_size=64)``, keeping each doc's entities: the loop a user would
  write, the fastest the model can go here.
- ``raw_blis``: ``raw`` on thinc's default matrix library (blis) instead of numpy's
  OpenBLAS (``transforms._spacy.NER_BLAS``): what the switch saves, and whether the
  entities stay the same (``blis_vs_numpy``: mentions found by one and not the other).
- ``pipeline``: ``Create(articles) | TagEntities(SpacyModelHandler(model))`` on the
  FnApiRunner (one worker), entities attached to each article, keys resolved: the stage as
  the pipeline runs it, Beam's batching, model load and element overhead included.

Both include loading the model. The figure is tokens per second of each (tokens counted
by the raw run) and the ratio pipeline / raw of the medians; the target is >= 0.9.

    python -m benchmarks.ner --data ../shared/data [--copies 3] [--repeats 3]

Writes benchmarks/results/ner.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from benchmarks._results import save

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "ner.json"


def texts_of(data: Path, copies: int) -> list[str]:
    truth = json.loads((data / "extraction-benchmark" / "ground-truth.json").read_text())
    bodies = [v["articleBody"] for _, v in sorted(truth.items()) if v.get("articleBody")]
    return bodies * copies


def raw(texts: list[str], model: str, blas: str = "numpy") -> tuple[float, int, list[tuple]]:
    """(seconds, tokens, mentions as (text number, start, end, label))."""
    from transforms.tag_entities import load_ner_pipeline

    start = time.perf_counter()
    nlp = load_ner_pipeline(model, blas=blas)
    nlp.max_length = max(nlp.max_length, *(len(t) + 1 for t in texts))
    tokens, mentions = 0, []
    for i, doc in enumerate(nlp.pipe(texts, batch_size=64)):
        tokens += len(doc)
        mentions += [(i, e.start_char, e.end_char, e.label_) for e in doc.ents]
    return time.perf_counter() - start, tokens, mentions


def in_pipeline(texts: list[str], model: str) -> tuple[float, int]:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from schemas.elements import Article
    from transforms.tag_entities import SpacyModelHandler, TagEntities

    articles = [Article(f"id{i}", f"http://127.0.0.1/{i}", f"http://127.0.0.1/{i}", "http://127.0.0.1/feed",
                        "bench", "t", [], None, None, "2020-01-01T00:00:00+00:00", "en", text, len(text.split()),
                        None, None, [], "page", f"h{i}", None) for i, text in enumerate(texts)]
    found: list[int] = []
    start = time.perf_counter()
    options = PipelineOptions(flags=[], runner="FnApiRunner", direct_num_workers=1)
    with beam.Pipeline(options=options) as p:
        tagged = p | beam.Create(articles, reshuffle=False) | TagEntities(SpacyModelHandler(model))
        counted = tagged["articles"] | beam.Map(lambda a: len(a.entities or [])) | beam.CombineGlobally(sum)
        counted | beam.Map(found.append)
    return time.perf_counter() - start, found[0] if found else 0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--copies", type=int, default=3, help="Times the 181 bodies are repeated.")
    parser.add_argument("--repeats", type=int, default=3, help="Runs per variant (median taken).")
    parser.add_argument("--model", default="en_core_web_sm")
    args = parser.parse_args(argv)
    if not (args.data / "extraction-benchmark" / "ground-truth.json").is_file():
        raise SystemExit(f"no extraction benchmark under {args.data}")
    texts = texts_of(args.data, args.copies)
    runs: dict[str, list[float]] = {"raw": [], "raw_blis": [], "pipeline": []}
    tokens = pipeline_entities = 0
    mentions: list[tuple] = []
    blis_mentions: list[tuple] = []
    for i in range(args.repeats):
        seconds, tokens, mentions = raw(texts, args.model)
        runs["raw"].append(seconds)
        seconds, _, blis_mentions = raw(texts, args.model, blas="blis")
        runs["raw_blis"].append(seconds)
        seconds, pipeline_entities = in_pipeline(texts, args.model)
        runs["pipeline"].append(seconds)
        print(f"  run {i + 1}/{args.repeats}: raw {runs['raw'][-1]:.2f}s, raw on blis {runs['raw_blis'][-1]:.2f}s, "
              f"pipeline {runs['pipeline'][-1]:.2f}s")
    med = {k: statistics.median(v) for k, v in runs.items()}
    raw_entities = len(mentions)
    result = {
        "texts": len(texts), "tokens": tokens, "model": args.model, "repeats": args.repeats,
        "seconds": {k: [round(s, 3) for s in v] for k, v in runs.items()},
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "tokens_per_second": {k: round(tokens / v) for k, v in med.items()},
        "pipeline_over_raw_throughput": round(med["raw"] / med["pipeline"], 3),
        "target": 0.9,
        # The pipeline cleans noise mentions (digits-only, punctuation), so it may keep fewer.
        "entities": {"raw_mentions": raw_entities, "pipeline_entities": pipeline_entities},
        "numpy_over_blis_throughput": round(med["raw_blis"] / med["raw"], 3),
        "blis_vs_numpy": {"mentions_numpy": raw_entities, "mentions_blis": len(blis_mentions),
                          "only_numpy": len(set(mentions) - set(blis_mentions)),
                          "only_blis": len(set(blis_mentions) - set(mentions))},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(f"{len(texts)} texts, {tokens} tokens: raw nlp.pipe {result['tokens_per_second']['raw']} tok/s, "
          f"pipeline {result['tokens_per_second']['pipeline']} tok/s, "
          f"ratio {result['pipeline_over_raw_throughput']} (target >= 0.9); numpy's BLAS over blis "
          f"{result['numpy_over_blis_throughput']}x, mentions that differ: {result['blis_vs_numpy']}")
    save(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
