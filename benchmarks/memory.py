"""Memory against run size: peak RSS of ``newsbeam run`` (default runner, no flags) at
1,000 / 2,000 / 4,000 / 8,000 articles, and optionally one larger run.

    python -m benchmarks.memory --data ../shared/data [--sizes 1000 2000 4000 8000] [--big 20000 [--big_only]]

Each size is its own ``benchmarks.corpus`` (unique 60 KB pages of real news sentences on
20 loopback hosts, politeness off) and one fresh ``newsbeam run`` process; the figure is
the peak of the summed RSS of its whole process tree (the runner and its SDK worker
processes), sampled every 0.25 s. Reported: peak per size, the ratio per doubling, the
4,000 / 1,000 ratio (target <= 1.25) and the growth per article between the smallest and
the largest size (what the README quotes). ``--big`` runs one more size and reports
whether it completed and its peak. Results: benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from benchmarks._procs import measure
from benchmarks._results import save
from benchmarks.corpus import CorpusSites, build_corpus

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "memory.json"
HOSTS = 20


def one_size(data: Path, articles: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = build_corpus(data, work / "site", articles, HOSTS)
        with CorpusSites(corpus) as sites:
            feeds = sites.write_feed_list(work / "feeds.txt")
            m = measure([sys.executable, "-m", "pipeline", "run", f"--feeds={feeds}", f"--output={work / 'out'}",
                         "--allow_private_hosts", "--per_host_delay=0"], cwd=ROOT)
    said = (m.stdout.strip().splitlines() or [""])[-1]
    result = {"articles": articles, "seconds": round(m.seconds, 1), "peak_rss_mb": round(m.peak_rss_mb, 1),
              "completed": m.returncode == 0, "said": said,
              "peak_rss_mb_by_process": m.peak_rss_mb_by_process}
    print(f"  {articles} articles: {result['seconds']} s, peak {result['peak_rss_mb']} MB "
          f"({'ok' if result['completed'] else 'FAILED'}: {said[:100]})", flush=True)
    if m.returncode != 0:
        result["stderr_tail"] = m.stderr[-2000:]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    parser.add_argument("--big", type=int, default=None, help="one more, larger run (e.g. 20000)")
    parser.add_argument("--big_only", action="store_true",
                        help="run only --big and add it to the committed results file")
    args = parser.parse_args(argv)
    if args.big_only:
        import json

        result = json.loads(RESULTS.read_text())
        result["big"] = one_size(Path(args.data), args.big)
        save(RESULTS, result)
        return 0
    series = [one_size(Path(args.data), n) for n in sorted(args.sizes)]
    if not all(r["completed"] for r in series):
        raise SystemExit("a run failed; see above")
    doubling = {f"{a['articles']}->{b['articles']}": round(b["peak_rss_mb"] / a["peak_rss_mb"], 3)
                for a, b in zip(series, series[1:])}
    by_size = {r["articles"]: r["peak_rss_mb"] for r in series}
    first, last = series[0], series[-1]
    per_article_kb = (last["peak_rss_mb"] - first["peak_rss_mb"]) * 1024 / (last["articles"] - first["articles"])
    ratio_4k_1k = round(by_size[4000] / by_size[1000], 3) if 4000 in by_size and 1000 in by_size else None
    print(f"per doubling: {doubling}; 4,000/1,000: {ratio_4k_1k} (target <= 1.25); "
          f"growth {per_article_kb:.1f} KB per article")
    result = {"benchmark": "memory", "cpus": len(os.sched_getaffinity(0)), "hosts": HOSTS,
              "runner": "newsbeam run defaults (FnApiRunner, one SDK worker process per core)",
              "series": series, "ratio_per_doubling": doubling, "ratio_4000_over_1000": ratio_4k_1k,
              "target_ratio_4000_over_1000": 1.25, "growth_kb_per_article": round(per_article_kb, 1)}
    if args.big:
        result["big"] = one_size(Path(args.data), args.big)
    save(RESULTS, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
