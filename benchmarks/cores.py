"""Every core: ``newsbeam run`` with no runner flags against the plain sequential loop and
against the machine's NER limit, on one hold-out corpus.

    python -m benchmarks.cores --data ../shared/data [--articles 1000] [--hosts 20] [--repeats 3]

The corpus is ``benchmarks.corpus``: ``--articles`` unique 60 KB pages of real news
sentences on ``--hosts`` loopback hosts, one feed each, politeness off for everyone. Each
measurement is a fresh process (imports and model loads included, as a user sees it);
variants alternate; the figures are medians of ``--repeats``. Peak memory is the summed
RSS of the command's whole process tree (its SDK workers included), CPU the user + system
time of all its processes. newsbeam's CPU divided by the cores is the wall time it could
take at best, every core busy from start to end (``best_possible_*``); counting the
seconds before its first worker process exists as one busy core (the launcher alone:
imports, the graph) gives a tighter bound that is still a lower one
(``best_possible_after_start_up_*``). A target beyond these needs less work, not better
scheduling.

- ``loop``: ``benchmarks.baseline_loop``, the sequential script a user would write
  (feedparser, requests, trafilatura, datasketch, spaCy, pyarrow): one core.
- ``newsbeam``: ``newsbeam run --feeds ... --output ...``, no runner flags: the default.
- ``newsbeam_1_worker``: the same with ``--direct_num_workers=1`` (what the default was).
- ``ner_limit``: NER alone on the texts newsbeam extracted, the same model and
  components, one process per core each tagging an even share: no pipeline could do its
  NER faster on this machine, and NER is most of the work.

Targets (issue 13): newsbeam >= 1.8x the loop; newsbeam within 1.3x of the NER limit.
Results: benchmarks/results/cores.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._procs import measure
from benchmarks._results import save
from benchmarks.corpus import CorpusSites, build_corpus

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "cores.json"


def _tag_slice(job: tuple[list[str], str]) -> int:
    from transforms.tag_entities import load_ner_pipeline

    texts, model = job
    nlp = load_ner_pipeline(model)
    nlp.max_length = max(nlp.max_length, *(len(t) + 1 for t in texts))
    return sum(len(doc.ents) for doc in nlp.pipe(texts, batch_size=64))


def ner_only(texts_file: str, model: str) -> None:
    """The NER limit: one process per core, each loads the model and tags its share of the
    texts (longest first, dealt round-robin, so the shares are even); only counts come back.
    (spaCy's own ``n_process`` sends every Doc back to the parent, which then competes for
    the cores: 1.4x slower here.)"""
    import multiprocessing

    texts = sorted(json.loads(Path(texts_file).read_text()), key=len, reverse=True)
    cores = len(os.sched_getaffinity(0))
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        entities = sum(pool.map(_tag_slice, [(texts[k::cores], model) for k in range(cores)]))
    print(json.dumps({"seconds_after_start": time.perf_counter() - start, "entities": entities}))


def _articles_texts(out: Path) -> list[str]:
    import duckdb

    rows = duckdb.sql(f"SELECT text FROM read_parquet('{out}/articles/**/*.parquet') ORDER BY article_id").fetchall()
    return [r[0] for r in rows]


def _by_command(m) -> dict[str, float]:
    """CPU seconds summed per kind of process (the launcher, SDK workers, NER processes)."""
    kinds: dict[str, float] = {}
    for label, used in m.cpu_seconds_by_process.items():
        kind = label.split(" ", 1)[-1]
        kinds[kind] = round(kinds.get(kind, 0.0) + used, 2)
    return kinds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cores", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ner_only", metavar="TEXTS_JSON", help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from pipeline.options import DEFAULT_MODEL

    if args.ner_only:
        ner_only(args.ner_only, args.model or DEFAULT_MODEL)
        return 0
    py = sys.executable
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = build_corpus(Path(args.data), work / "site", args.articles, args.hosts)
        with CorpusSites(corpus) as sites:
            feeds = sites.write_feed_list(work / "feeds.txt")
            texts = work / "texts.json"

            def newsbeam(*extra: str):
                def cmd(out: Path) -> list[str]:
                    return [py, "-m", "pipeline", "run", f"--feeds={feeds}", f"--output={out}",
                            "--allow_private_hosts", "--per_host_delay=0", *extra]
                return cmd

            variants = {
                "loop": lambda out: [py, "-m", "benchmarks.baseline_loop", str(feeds), str(out)],
                "newsbeam": newsbeam(),
                "newsbeam_1_worker": newsbeam("--direct_num_workers=1"),
                "ner_limit": lambda out: [py, "-m", "benchmarks.cores", "--ner_only", str(texts)],
            }
            for i in range(args.repeats):
                order = list(variants) if i % 2 == 0 else list(reversed(variants))
                for name in order:
                    if name == "ner_limit" and not texts.exists():
                        continue  # needs newsbeam's texts: the first round runs newsbeam first
                    out = work / f"{name}-{i}"
                    out.mkdir()
                    m = measure(variants[name](out), cwd=ROOT)
                    if m.returncode != 0:
                        raise SystemExit(f"{name} failed ({m.returncode}):\n{m.stderr[-3000:]}")
                    result = {"seconds": round(m.seconds, 2), "peak_rss_mb": round(m.peak_rss_mb, 1),
                              "cpu_seconds": m.cpu_seconds, "cpu_seconds_by_command": _by_command(m),
                              "alone_seconds": m.alone_seconds,
                              "said": m.stdout.strip().splitlines()[-1]}
                    if name == "newsbeam" and not texts.exists():
                        texts.write_text(json.dumps(_articles_texts(out)))
                    runs.setdefault(name, []).append(result)
                    print(f"  {name}, run {i + 1}: {result['seconds']} s, {result['peak_rss_mb']} MB, "
                          f"{result['cpu_seconds']} CPU-s ({result['said'][:100]})", flush=True)
            n_texts = len(json.loads(texts.read_text()))
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    rss = {k: statistics.median(r["peak_rss_mb"] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r["cpu_seconds"] for r in v) for k, v in runs.items()}
    cores = len(os.sched_getaffinity(0))
    vs_loop = med["loop"] / med["newsbeam"]
    vs_ner = med["newsbeam"] / med["ner_limit"]
    # The shortest wall time newsbeam's CPU work could take if every core were busy from
    # its first moment to its last: no scheduling, overlap or runner does better.
    floor = cpu["newsbeam"] / cores
    # Tighter: until its first worker process exists the launcher is one process, so at
    # most one core is busy (its start-up is imports and building the graph, GIL-bound);
    # counting those seconds as one busy core's CPU makes this still a lower bound.
    alone = statistics.median(r["alone_seconds"] for r in runs["newsbeam"])
    floor_serial = alone + (cpu["newsbeam"] - alone) / cores
    print(f"newsbeam vs loop: {vs_loop:.2f}x (target >= 1.8x); newsbeam / NER limit: {vs_ner:.2f} (target <= 1.3); "
          f"default vs 1 worker: {med['newsbeam_1_worker'] / med['newsbeam']:.2f}x")
    print(f"CPU: newsbeam {cpu['newsbeam']:.1f} s, NER limit {cpu['ner_limit']:.1f} s, loop {cpu['loop']:.1f} s; "
          f"newsbeam's CPU on {cores} busy cores: {floor:.1f} s = {med['loop'] / floor:.2f}x the loop at best, "
          f"{floor / med['ner_limit']:.2f} of the NER limit at best")
    print(f"with its {alone:.1f} s alone before the first worker: {floor_serial:.1f} s = "
          f"{med['loop'] / floor_serial:.2f}x the loop at best, {floor_serial / med['ner_limit']:.2f} of the NER limit")
    save(RESULTS, {
        "benchmark": "cores", "cpus": cores,
        "corpus": f"benchmarks.corpus: {args.articles} unique articles on {args.hosts} loopback hosts",
        "articles_extracted": n_texts, "repeats": args.repeats,
        "median_seconds": med, "median_peak_rss_mb": rss, "median_cpu_seconds": cpu,
        "newsbeam_cpu_on_all_cores_seconds": round(floor, 2),
        "best_possible_vs_loop": round(med["loop"] / floor, 3),
        "best_possible_over_ner_limit": round(floor / med["ner_limit"], 3),
        "launcher_alone_seconds": alone,
        "best_possible_after_start_up_seconds": round(floor_serial, 2),
        "best_possible_after_start_up_vs_loop": round(med["loop"] / floor_serial, 3),
        "best_possible_after_start_up_over_ner_limit": round(floor_serial / med["ner_limit"], 3),
        "newsbeam_vs_loop": round(vs_loop, 3), "target_vs_loop": 1.8,
        "newsbeam_over_ner_limit": round(vs_ner, 3), "target_over_ner_limit": 1.3,
        "default_vs_1_worker": round(med["newsbeam_1_worker"] / med["newsbeam"], 3),
        "runs": runs,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
