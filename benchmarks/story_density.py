"""What makes the story stage's time per article grow: a run's size, or its density?

    python -m benchmarks.story_density --data ../shared/data [--sizes 1000 4000 16000] [--repeats 3]

Issue 14 asks that the cost per article "not grow with the size of the run", and measures it
as 4,000 articles against 1,000. ``story_signal`` and ``story_scale`` publish both sizes over
the same 28 days, so the larger run is also four times denser: each article has four times
as many stories within the window (``--story_window_hours``, 72) to be compared with, and
more of them related to it. This benchmark tells the two apart, in-process, on the
algorithm as the batch stage runs it (``transforms._stories``: IDF counted over the run's
profiles, then ``StoryIndex.assign_closing`` in publication order; the profiles are made
first and not timed, as in the pipeline, where an earlier step makes them):

- ``same_days``: every size over 28 days (the density grows with the size, as in the other
  story benchmarks);
- ``same_density``: each size over 28 days per 1,000 articles (4,000 over 112 days, 16,000
  over 448), so only the size grows.

Corpora (``story_signal``'s, made from the shared news texts at run time): ``shared_sentences``
(24-40 sentences drawn from the whole pool per article), ``no_shared_sentences`` (8 per
article, none shared by two articles within 72 hours: impossible for 16,000 over 28 days,
the pool is too small, and reported so), ``one_source_per_article`` (up to 8 sentences of
one source text).

Reported per corpus, spread and size: ``ms_per_article`` (median of ``--repeats``),
``candidates_scored_per_article`` (stories scored, at most ``max_candidates`` = 10 per
article), ``joined_per_article`` (the share of articles that joined a story rather than
starting one), ``articles_per_window`` (articles published within 72 hours, the density),
the largest story; and ``ratio_to_smallest``: ms per article over the smallest size's.

Results: benchmarks/results/story_density.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from benchmarks._results import save
from benchmarks.corpus import sentences
from benchmarks.story_signal import (
    DAYS,
    _published,
    disjoint_sentences,
    language,
    mixed_sentences,
    one_source_texts,
    source_documents,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "story_density.json"
WINDOW_DAYS = 3  # the default --story_window_hours, 72


def assign_timed(profiles: list, repeats: int) -> dict:
    """IDF and assignment, as the batch stage does them, ``repeats`` times from cold caches."""
    from transforms._stories import DocumentFrequencies, StoryIndex, clear_caches, instant

    runs = []
    for _ in range(repeats):
        clear_caches()
        started = time.perf_counter()
        df = DocumentFrequencies()
        for p in profiles:
            df.add(p.terms)
        index = StoryIndex()
        stories = list(index.assign_closing(profiles, df))
        runs.append(time.perf_counter() - started)
    n = len(profiles)
    instant.cache_clear()
    return {"ms_per_article": round(1000 * statistics.median(runs) / n, 3),
            "runs_seconds": [round(r, 2) for r in runs],
            "candidates_scored_per_article": round(index.compared / n, 2),
            "joined_per_article": round((n - len(stories)) / n, 3),
            "stories": len(stories), "largest_story": max(s.articles for s in stories)}


def texts_of(corpus: str, n: int, days: int, pool: list[str], sources) -> list[str]:
    rng = random.Random(13)
    if corpus == "shared_sentences":
        return [" ".join(a) for a in mixed_sentences(pool, n, rng)]
    if corpus == "no_shared_sentences":
        return [" ".join(a) for a in disjoint_sentences(pool, n, rng, days=days)]
    return one_source_texts(sources, n, rng)[0]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.story_density", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpora", nargs="+", default=["shared_sentences", "no_shared_sentences",
                                                         "one_source_per_article"])
    args = parser.parse_args(argv)
    from transforms._stories import profile, warm_up

    warm_up()
    pool, sources = sentences(args.data), source_documents(args.data)
    smallest = args.sizes[0]
    result: dict = {"benchmark": "story_density", "sizes": args.sizes, "repeats": args.repeats,
                    "spreads": {"same_days": f"{DAYS} days at every size",
                                "same_density": f"{DAYS} days per {smallest} articles"},
                    "corpora": {}}
    for corpus in args.corpora:
        section = result["corpora"][corpus] = {}
        made: dict[int, list] = {}  # shared and one-source texts do not depend on the days
        for spread in ("same_days", "same_density"):
            rows = section[spread] = {}
            for n in args.sizes:
                days = DAYS if spread == "same_days" else DAYS * n // smallest
                key = n if corpus != "no_shared_sentences" else (n, days)
                try:
                    if key not in made:
                        texts = texts_of(corpus, n, days, pool, sources)
                        made[key] = [profile(f"a{i:06d}", "", f"outlet{i % 20}", None, t, language=language(t))
                                     for i, t in enumerate(texts)]
                except SystemExit as why:  # disjoint_sentences: the pool cannot fill the blocks
                    rows[str(n)] = {"days": days, "skipped": str(why)}
                    print(f"{corpus} {spread} {n}: skipped ({why})", flush=True)
                    continue
                profiles = [p._replace(published=_published(i, days)) for i, p in enumerate(made[key])]
                rows[str(n)] = {"days": days, "articles_per_window": round(n * WINDOW_DAYS / days),
                                **assign_timed(profiles, args.repeats)}
                print(f"{corpus} {spread} {n} over {days} days: {rows[str(n)]}", flush=True)
            base = rows.get(str(smallest), {}).get("ms_per_article")
            for n in args.sizes:
                row = rows[str(n)]
                if base and "ms_per_article" in row:
                    row["ratio_to_smallest"] = round(row["ms_per_article"] / base, 3)
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save(RESULTS, result)
    for corpus, section in result["corpora"].items():
        for spread, rows in section.items():
            print(f"{corpus:24s} {spread:13s} " + "  ".join(
                f"{n}: {r['ms_per_article']} ms ({r.get('ratio_to_smallest')}x, {r['candidates_scored_per_article']} "
                f"scored, {r['joined_per_article']} joined)" if "ms_per_article" in r else f"{n}: skipped"
                for n, r in rows.items()))
    return result


if __name__ == "__main__":
    main()
