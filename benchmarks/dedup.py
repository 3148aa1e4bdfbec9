"""Near-duplicate benchmarks (in ``make bench``):

1. MinHash library: signatures per second, rensa against datasketch, same texts.
2. Quality: a syndication corpus (benchmarks/syndication.py, >= 2,000 documents from the
   extraction benchmark's real texts) served on loopback and run through the real
   pipeline; the clusters it writes are scored pairwise against the generator's truth
   and against exact all-pairs shingle Jaccard, overall and per edit type.
3. Scaling: the dedup stage alone (FindNearDuplicates) on 10k, 20k and 40k documents
   (synthetic articles of sentences drawn from the real texts, each with four edited
   copies, so clusters keep their size as the corpus grows), each size in a fresh
   process: seconds and peak memory, and the ratio per doubling.

    python -m benchmarks.dedup --data ../shared/data [--skip-scaling]

Results: benchmarks/results/dedup.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks._results import save

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "dedup.json"
THRESHOLD = 0.8


def load_bases(data: Path) -> dict[str, str]:
    truth = json.loads((data / "extraction-benchmark" / "ground-truth.json").read_text())
    return {k: v["articleBody"] for k, v in truth.items()}


def library_choice(bases: dict[str, str]) -> dict:
    import datasketch
    import rensa

    from transforms._minhash import shingles

    sets = [sorted(shingles(t, 3)) for t in bases.values()]
    encoded = [[s.encode() for s in ss] for ss in sets]

    def per_second(fn) -> float:
        rates = []
        for _ in range(3):
            started = time.perf_counter()
            for item in fn[1]:
                fn[0](item)
            rates.append(len(fn[1]) / (time.perf_counter() - started))
        return statistics.median(rates)

    r = per_second((lambda s: rensa.RMinHash(num_perm=100, seed=1).update(s), sets))
    d = per_second((lambda s: datasketch.MinHash(num_perm=100, seed=1).update_batch(s), encoded))
    return {"rensa_docs_per_s": round(r), "datasketch_docs_per_s": round(d), "rensa_speedup": round(r / d, 1)}


def _tiny_ner_model(path: Path) -> str:
    """A blank English pipeline with an (empty) entity ruler: keeps NER out of this benchmark's time."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler")
    nlp.to_disk(path)
    return str(path)


def _write_site(docs, root: Path, feeds: int) -> list[str]:
    from benchmarks.syndication import render

    (root / "pages").mkdir(parents=True)
    rank = {"original": 0}
    for k, doc in enumerate(docs):
        (root / "pages" / f"{doc.doc_id}.html").write_text(render(doc, k), encoding="utf-8")
    names = []
    for f in range(feeds):
        items = []
        for doc in docs[f::feeds]:
            minute = rank.get(doc.edit, 1 + hash(doc.doc_id) % 50)  # originals first: they are canonical
            items.append(f"<item><title>{doc.doc_id}</title><link>{{{{BASE}}}}/pages/{doc.doc_id}.html</link>"
                         f"<pubDate>Tue, 07 Jan 2020 10:{minute:02d}:00 GMT</pubDate></item>")
        (root / f"feed{f}.xml").write_text(
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>f{f}</title>{''.join(items)}</channel></rss>")
        names.append(f"feed{f}.xml")
    return names


def _true_positive_pairs(texts: dict[str, str]) -> dict[tuple[str, str], float]:
    """Exact all-pairs shingle Jaccard >= THRESHOLD (pairs too different in size are skipped:
    J >= t needs |A|/|B| >= t)."""
    from transforms._minhash import jaccard, shingles

    sets = {k: shingles(v, 3) for k, v in texts.items()}
    ordered = sorted(sets, key=lambda k: len(sets[k]))
    positives = {}
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if len(sets[a]) < THRESHOLD * len(sets[b]):
                break
            s = jaccard(sets[a], sets[b])
            if s >= THRESHOLD:
                positives[tuple(sorted((a, b)))] = s
    return positives


def quality(data: Path, work: Path) -> dict:
    import duckdb

    from benchmarks.syndication import EDITS, corpus
    from pipeline.cli import run
    from pipeline.loopback import LoopbackSite

    docs = corpus(load_bases(data), min_words=100, copies_per_edit=2)
    by_id = {d.doc_id: d for d in docs}
    feeds = _write_site(docs, work / "site", 10)
    model = _tiny_ner_model(work / "ner")
    with LoopbackSite(work / "site") as site:
        (work / "feeds.txt").write_text("\n".join(site.url(f) for f in feeds) + "\n")
        started = time.perf_counter()
        outcome = run([f"--feeds={work / 'feeds.txt'}", f"--output={work / 'out'}", "--runner=FnApiRunner",
                       "--allow_private_hosts", "--per_host_delay=0", "--per_host_concurrency=16",
                       "--ignore_robots", f"--ner_model={model}", "--min_words=20", "--index_line_ratio=1.1",
                       "--run_id=quality"])
        seconds = time.perf_counter() - started
    out = work / "out"

    def doc_of(url: str) -> str:
        return url.rsplit("/", 1)[-1][: -len(".html")]

    cluster_of, texts = {}, {}
    for url, article_id, text in duckdb.sql(
            f"SELECT url, article_id, text FROM read_parquet('{out}/articles/**/*.parquet')").fetchall():
        cluster_of[doc_of(url)] = article_id
        texts[doc_of(url)] = text
    for url, canonical in duckdb.sql(
            f"SELECT url, canonical_article_id FROM read_parquet('{out}/duplicates/**/*.parquet')").fetchall():
        cluster_of[doc_of(url)] = canonical
    # Truth Jaccard on the generated texts (what each outlet published).
    generated = {d.doc_id: "\n".join(d.paragraphs) for d in docs}
    positives = _true_positive_pairs(generated)
    members = defaultdict(list)
    for doc_id, cluster in cluster_of.items():
        members[cluster].append(doc_id)
    predicted = {tuple(sorted(p)) for group in members.values() for p in itertools.combinations(group, 2)}
    same_true_cluster = {p for p in predicted if by_id[p[0]].cluster == by_id[p[1]].cluster}
    hit = predicted & set(positives)
    per_edit = {}
    for edit in (*EDITS, "same_topic"):
        copies = [d for d in docs if d.edit == edit]
        originals = {d.cluster: d.doc_id for d in docs if d.edit == "original"}
        eligible = [d for d in copies if d.edit != "same_topic"
                    and tuple(sorted((d.doc_id, originals[d.cluster]))) in positives]
        merged = [d for d in eligible if cluster_of.get(d.doc_id) == cluster_of.get(originals[d.cluster])]
        wrongly = [d for d in copies if d.edit == "same_topic"
                   and any(cluster_of.get(d.doc_id) == cluster_of.get(o) for o in originals.values())]
        per_edit[edit] = {"documents": len(copies), "jaccard_at_least_threshold": len(eligible),
                          "recall": round(len(merged) / len(eligible), 4) if eligible else None}
        if edit == "same_topic":
            per_edit[edit]["wrongly_merged"] = len(wrongly)
    return {
        "documents": len(docs), "bases": sum(d.edit == "original" for d in docs),
        "pipeline_seconds": round(seconds, 1), "documents_written": len(cluster_of),
        "conservation": outcome.manifest["conservation"],
        "predicted_pairs": len(predicted), "true_pairs_jaccard_ge_threshold": len(positives),
        "precision_vs_generator_clusters": round(len(same_true_cluster) / len(predicted), 4) if predicted else None,
        "precision_vs_exact_jaccard": round(len(hit) / len(predicted), 4) if predicted else None,
        "recall_vs_exact_jaccard": round(len(hit) / len(positives), 4) if positives else None,
        "per_edit_type": per_edit,
    }


def _scaling_child(n: int) -> dict:
    import random

    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from benchmarks.syndication import EDITS, _edit
    from schemas.elements import Article
    from schemas.timeutil import utc_now_iso
    from transforms._minhash import DedupConfig
    from transforms._urls import article_id
    from transforms.extract_articles import content_hash
    from transforms.near_duplicates import FindNearDuplicates

    # Distinct synthetic bases (sentences drawn from the real texts) with a fixed number of
    # edited copies each, so clusters keep the same size as the corpus grows.
    bases = load_bases(Path(sys.argv[sys.argv.index("--data") + 1]))
    pool = [s.strip() for text in bases.values() for s in text.replace("\n", " ").split(". ") if len(s.split()) > 6]
    rng = random.Random(n)
    texts = []
    while len(texts) < n:
        base = [". ".join(rng.sample(pool, 4)) + "." for _ in range(6)]
        texts.append("\n".join(base))
        for _ in range(4):
            texts.append("\n".join(_edit(rng.choice(EDITS), base, rng)))
    texts = texts[:n]
    now = utc_now_iso()
    articles = [Article(article_id(f"http://s.test/{i}"), f"http://s.test/{i}", f"http://s.test/{i}", "f", "s",
                        "t", [], None, None, now, "en", t, len(t.split()), None, None, [], "page", content_hash(t),
                        None) for i, t in enumerate(texts)]
    started = time.perf_counter()
    with beam.Pipeline(options=PipelineOptions(flags=[], runner="FnApiRunner")) as p:
        out = p | beam.Create(articles, reshuffle=False) | FindNearDuplicates(DedupConfig())
        out["duplicates"] | beam.combiners.Count.Globally()
    seconds = time.perf_counter() - started
    return {"documents": n, "seconds": round(seconds, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def scaling(data: Path, sizes=(10_000, 20_000, 40_000)) -> dict:
    rows = []
    for n in sizes:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.dedup", "--scaling-child", str(n), "--data",
                               str(data)], capture_output=True, text=True, cwd=HERE.parent, timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"  scaling {n}: {rows[-1]['seconds']}s, peak {rows[-1]['peak_rss_mb']} MB", flush=True)
    ratios = [round(b["seconds"] / a["seconds"], 3) for a, b in zip(rows, rows[1:])]
    memory = [round(b["peak_rss_mb"] / a["peak_rss_mb"], 3) for a, b in zip(rows, rows[1:])]
    return {"sizes": rows, "time_ratio_per_doubling": ratios, "memory_ratio_per_doubling": memory,
            "target_time_ratio_max": 2.3}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"))
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--scaling-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scaling_child:
        print(json.dumps(_scaling_child(args.scaling_child)))
        return {}
    data = Path(args.data)
    result = {"threshold": THRESHOLD, "library": library_choice(load_bases(data))}
    print("MinHash library:", result["library"], flush=True)
    with tempfile.TemporaryDirectory(prefix="newsbeam-dedup-") as tmp:
        result["quality"] = quality(data, Path(tmp))
    q = result["quality"]
    print(f"quality: {q['documents']} documents, precision {q['precision_vs_generator_clusters']} "
          f"(vs generator), {q['precision_vs_exact_jaccard']} (vs exact Jaccard), recall "
          f"{q['recall_vs_exact_jaccard']}", flush=True)
    for edit, row in q["per_edit_type"].items():
        print(f"  {edit:12s} {row}")
    if not args.skip_scaling:
        result["scaling"] = scaling(data)
        print("scaling:", {k: v for k, v in result["scaling"].items() if k != "sizes"})
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save(RESULTS, result)
    print(f"written {RESULTS}")
    return result


if __name__ == "__main__":
    main()
